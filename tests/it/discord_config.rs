//! The `[discord]` config section: defaults, secrets, and refusals.

use aisbf_doctor::config::{self, discord::Mode};

const BASE: &str = "[cluster]\nname = \"c\"\nuser = \"alice\"\ntoken = \"t\"\n[[cluster.nodes]]\nname = \"a\"\nurl = \"http://127.0.0.1:1\"\n";
const KEY: &str = "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";

fn parse(discord: &str) -> Result<config::Config, config::ConfigError> {
    // Every section names its guilds unless the test is about them.
    let guilds = if discord.contains("guilds") {
        ""
    } else {
        "guilds = [\"42\"]\n"
    };
    let text = format!("{BASE}[discord]\n{guilds}{discord}");
    config::parse(&text, &|name| {
        (name == "DISCORD_TOKEN").then(|| "bot-token-secret-value".to_string())
    })
}

#[test]
fn a_minimal_discord_section_defaults_to_gateway_mode_and_discord_api() {
    let c = parse("token = \"${DISCORD_TOKEN}\"\napplication_id = \"123\"\n").expect("parses");
    let d = c.discord.clone().expect("discord");
    assert_eq!(d.mode, Mode::Gateway);
    assert_eq!(d.api_base, "https://discord.com/api/v10");
    assert_eq!(d.interactions_endpoint.port(), 8080);
    // The bot token is a secret the redactor knows.
    assert_eq!(c.redactor().scrub("x bot-token-secret-value y"), "x *** y");
}

#[test]
fn discord_config_mistakes_are_refused_naming_the_key() {
    let cases = [
        (
            "token = \"t\"\napplication_id = \"1\"\ncolour = \"red\"\n",
            "colour",
        ),
        (
            "token = \"t\"\napplication_id = \"abc\"\n",
            "discord.application_id",
        ),
        (
            "token = \"t\"\napplication_id = \"1\"\nmode = \"http\"\n",
            "discord.public_key",
        ),
        (
            "token = \"t\"\napplication_id = \"1\"\npublic_key = \"zz\"\n",
            "discord.public_key",
        ),
        (
            "token = \"t\"\napplication_id = \"1\"\nmode = \"carrier-pigeon\"\n",
            "discord.mode",
        ),
        (
            "token = \"t\"\napplication_id = \"1\"\napi_base = \"ftp://x/api/v10\"\n",
            "discord.api_base",
        ),
        (
            "token = \"t\"\napplication_id = \"1\"\napi_base = \"https://u:pw@proxy.example/api/v10\"\n",
            "discord.api_base`: must not carry a user or password",
        ),
        (
            "token = \"t\"\napplication_id = \"1\"\nops_roles = [\"x\"]\n",
            "discord.ops_roles[0]",
        ),
        ("token = \"\"\napplication_id = \"1\"\n", "discord.token"),
        (
            "token = \"t\"\napplication_id = \"1\"\ninteractions_endpoint = \"nowhere\"\n",
            "discord.interactions_endpoint",
        ),
    ];
    for (text, key) in cases {
        let e = parse(text).expect_err(text);
        assert!(e.to_string().contains(key), "{text:?} → {e}");
    }
}

#[test]
fn http_mode_with_a_valid_public_key_parses() {
    let c = parse(&format!("mode = \"http\"\ntoken = \"t\"\napplication_id = \"1\"\npublic_key = \"{KEY}\"\nincident_channel = \"55\"\nops_roles = [\"7\", \"8\"]\n")).expect("parses");
    let d = c.discord.expect("discord");
    assert_eq!(d.mode, Mode::Http);
    assert_eq!(d.incident_channel, Some(55));
    assert_eq!(d.ops_roles, vec![7, 8]);
}

#[test]
fn a_discord_section_without_guilds_is_refused_with_the_key_named() {
    let e = parse("token = \"${DISCORD_TOKEN}\"\napplication_id = \"123\"\nguilds = []\n")
        .expect_err("no guild may ask");
    assert!(e.to_string().contains("discord.guilds"), "{e}");
}
