//! Grant matching: default deny, prefixes, lifetimes, wildcard policies.

use super::*;

fn grant(toml: &str) -> GrantSet {
    #[derive(serde::Deserialize)]
    struct W {
        grants: Vec<GrantConfig>,
    }
    GrantSet::new(&toml::from_str::<W>(toml).unwrap().grants)
}

fn caller(sub: &str) -> Caller {
    Caller {
        subject: Some(sub.into()),
        client: None,
        issuer: "i".into(),
        scopes: vec!["sign".into()],
        groups: vec![],
        expires_at: 0,
        claims: Default::default(),
    }
}

const MAILER: &str = r#"
    [[grants]]
    name = "mailer"
    subjects = ["mailer"]
    distributions = ["reports"]
    allow = ["/uploads/*"]
    max_ttl = "7d"
    allow_wildcard_policy = true
"#;

fn ask(path: &str) -> Ask<'_> {
    Ask {
        distribution: "reports",
        path,
        ttl_seconds: 3600,
        wildcard: false,
        cookies: false,
        ip_binding: false,
    }
}

#[test]
fn default_deny() {
    let g = grant(MAILER);
    assert_eq!(
        g.authorize(&caller("someone"), &ask("/uploads/a")).unwrap_err(),
        Denial::NoGrant
    );
}

#[test]
fn allows_within_prefix_and_ttl() {
    let g = grant(MAILER);
    assert_eq!(
        g.authorize(&caller("mailer"), &ask("/uploads/a/b.pdf")).unwrap().0.name,
        "mailer"
    );
    assert!(matches!(
        g.authorize(&caller("mailer"), &ask("/secret/a")),
        Err(Denial::Path(_))
    ));
    let long = Ask {
        ttl_seconds: 8 * 86400,
        ..ask("/uploads/a")
    };
    assert!(matches!(g.authorize(&caller("mailer"), &long), Err(Denial::Ttl { .. })));
    let other = Ask {
        distribution: "videos",
        ..ask("/uploads/a")
    };
    assert!(matches!(
        g.authorize(&caller("mailer"), &other),
        Err(Denial::Distribution(_))
    ));
}

#[test]
fn wildcard_patterns_must_stay_inside_a_prefix() {
    let g = grant(MAILER);
    let w = |p| Ask {
        wildcard: true,
        ..ask(p)
    };
    assert!(g.authorize(&caller("mailer"), &w("/uploads/2024/*")).is_ok());
    assert!(g.authorize(&caller("mailer"), &w("/*")).is_err());
    assert!(g.authorize(&caller("mailer"), &w("/upl*")).is_err());
    let cookies = Ask {
        cookies: true,
        ..ask("/uploads/a")
    };
    assert_eq!(g.authorize(&caller("mailer"), &cookies).unwrap_err(), Denial::Cookies);
}
