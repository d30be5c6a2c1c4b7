//! Pure rendering of verdicts as Discord messages.
