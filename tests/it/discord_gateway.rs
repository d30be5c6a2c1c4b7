//! Gateway mode end to end: the real serenity client against a fake gateway.
