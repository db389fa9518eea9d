//! cloud-init user-data, one per host, written as Terraform templates
//! (`cloud-init/<host>.yaml.tftpl`) because secrets enter only when
//! Terraform renders them with `templatefile`.
//!
//! Every file a host gets is listed once, by [`host_files`], from the
//! [`Roles`] and the plan's secrets; the user-data and the lab both use that
//! list, so the lab runs exactly what cloud-init would write.
//!
//! With NixOS provisioning the user-data is a seed for the NixOS image's
//! own cloud-init (`nixos/image.nix`): it writes the host's secrets and
//! nothing else. The configuration comes from the flake (`nixos-rebuild`),
//! never from cloud-init, and no secret enters the Nix store.
//!
//! Boot order on a Debian/Ubuntu image: a `policy-rc.d` written in the init
//! stage stops the packages from starting their services with stock
//! configuration (a broker that boots once alone initialises its database
//! and never joins the cluster); packages install in the final stage; then
//! the deferred `write_files` install rmqgen's files (their owners, such as
//! `rabbitmq`, exist only after the packages); `runcmd` then starts the
//! services in order and, on one broker, the queue-HA bootstrap.

use serde_json::{json, Map, Value};

use super::yaml;
use super::Roles;
use crate::plan::{paths, platform, Host, Plan, Role};
use crate::spec::{InstallSource, Provisioning};

/// Where `policy-rc.d` lives; its presence stops invoke-rc.d and
/// deb-systemd-invoke from starting services during package installation.
pub const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// apt preferences that keep `rabbitmq-server` (and Team RabbitMQ's
/// Erlang) inside the spec's series.
pub const APT_PREFERENCES: &str = "/etc/apt/preferences.d/rmqgen-rabbitmq";

/// What a file on a host contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// These exact bytes.
    Text(String),
    /// A secret that Terraform supplies. With `env_var`, the file is the
    /// single line `ENV_VAR=<value>`; otherwise it is the bare value.
    Secret {
        /// The secret's id in the plan.
        id: String,
        /// The `templatefile` variable that carries it.
        template_var: String,
        /// Environment variable the file assigns, if any.
        env_var: Option<&'static str>,
    },
}

/// One file cloud-init writes on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFile {
    /// Absolute path on the host.
    pub path: String,
    /// Owner.
    pub owner: String,
    /// Group.
    pub group: String,
    /// Mode.
    pub mode: u32,
    /// Contents.
    pub content: Content,
    /// Appended to an existing file instead of replacing it.
    pub append: bool,
    /// Written after the packages are installed (their users exist then).
    pub defer: bool,
}

/// Every file cloud-init writes on `host`, in the order it writes them.
///
/// With cloud-init provisioning: the `policy-rc.d` guard, the role files
/// of `roles` installed there (sorted by bundle path), and the host's
/// secrets. With
/// NixOS provisioning: the host's secrets only, at the paths the NixOS
/// modules read them from, written in cloud-init's first stage (root owns
/// them all, so nothing waits for a package).
pub fn host_files(plan: &Plan, roles: &Roles, host: &Host) -> Vec<HostFile> {
    if plan.provisioning == Provisioning::Nixos {
        return secret_files(plan, host, false);
    }
    let mut files = vec![HostFile {
        path: POLICY_RC_D.into(),
        owner: "root".into(),
        group: "root".into(),
        mode: 0o755,
        content: Content::Text(
            "#!/bin/sh\n# rmqgen: no service starts during package installation; runcmd starts them once configured.\nexit 101\n"
                .into(),
        ),
        append: false,
        defer: false,
    }];
    if host.role == Role::Broker && !plan.install.pins.is_empty() {
        // Before apt runs (init stage): the packages install inside the
        // series from the first `apt-get install`.
        files.push(HostFile {
            path: APT_PREFERENCES.into(),
            owner: "root".into(),
            group: "root".into(),
            mode: 0o644,
            content: Content::Text(apt_preferences(plan)),
            append: false,
            defer: false,
        });
    }
    for file in roles.for_host(&host.name) {
        files.push(HostFile {
            path: file.path.clone(),
            owner: file.owner.clone(),
            group: file.group.clone(),
            mode: file.mode,
            content: Content::Text(file.contents.clone()),
            append: file.append,
            defer: true,
        });
    }
    files.extend(secret_files(plan, host, true));
    files
}

/// `/etc/apt/preferences.d/rmqgen-rabbitmq`: each pinned package at
/// priority 1001, so apt takes (and keeps) the series' version even where
/// the distribution has a newer or older one.
fn apt_preferences(plan: &Plan) -> String {
    let mut out = format!(
        "# Generated by rmqgen for cluster {}: RabbitMQ {} from {}.\n# Keeps apt (and unattended-upgrades) inside the series.\n",
        plan.name, plan.rabbitmq.version, source_name(&plan.install.source)
    );
    for pin in &plan.install.pins {
        out.push_str(&format!(
            "\nPackage: {}\nPin: version {}\nPin-Priority: 1001\n",
            pin.package, pin.version
        ));
    }
    out
}

fn source_name(source: &InstallSource) -> &'static str {
    match source {
        InstallSource::Distro {} => "the distribution",
        InstallSource::TeamRabbitmq {} => "Team RabbitMQ's repositories",
        InstallSource::Mirror { .. } => "the mirror",
    }
}

/// cloud-init's `apt` module settings: the install source's repositories
/// (brokers) and the proxy (every host); `None` when there is neither.
/// The image's own sources stay as they are.
fn apt_config(plan: &Plan, host: &Host) -> Option<Value> {
    let sources = if host.role == Role::Broker {
        plan.install.sources.as_slice()
    } else {
        &[]
    };
    if sources.is_empty() && plan.apt_proxy.is_none() {
        return None;
    }
    let mut apt = Map::new();
    apt.insert("preserve_sources_list".into(), true.into());
    if let Some(proxy) = &plan.apt_proxy {
        apt.insert("http_proxy".into(), escape_template(proxy).into());
        apt.insert("https_proxy".into(), escape_template(proxy).into());
    }
    if !sources.is_empty() {
        let mut list = Map::new();
        for s in sources {
            let mut entry = Map::new();
            entry.insert("source".into(), escape_template(&s.line).into());
            if let Some(keyid) = s.keyid {
                entry.insert("keyid".into(), keyid.into());
                entry.insert("keyserver".into(), platform::TEAM_KEYSERVER.into());
            }
            list.insert(format!("{}.list", s.name), Value::Object(entry));
        }
        apt.insert("sources".into(), Value::Object(list));
    }
    Some(Value::Object(apt))
}

/// The secrets `host` needs (those of its role), as files.
fn secret_files(plan: &Plan, host: &Host, defer: bool) -> Vec<HostFile> {
    plan.secrets
        .iter()
        .filter(|s| s.role == host.role)
        .map(|secret| HostFile {
            path: secret.install_path(),
            owner: secret.owner.into(),
            group: secret.group.into(),
            mode: secret.mode,
            content: Content::Secret {
                id: secret.id.clone(),
                template_var: secret.tf_name.clone(),
                env_var: secret.env_var,
            },
            append: false,
            defer,
        })
        .collect()
}

/// Escapes text for a Terraform template: `${` and `%{` would start an
/// interpolation or directive; `$${` and `%%{` stand for them literally.
pub(crate) fn escape_template(s: &str) -> String {
    s.replace("${", "$${").replace("%{", "%%{")
}

fn write_file(f: &HostFile) -> Value {
    let mut m = Map::new();
    m.insert("path".into(), f.path.clone().into());
    m.insert("owner".into(), format!("{}:{}", f.owner, f.group).into());
    m.insert("permissions".into(), format!("{:04o}", f.mode).into());
    match &f.content {
        Content::Text(text) => {
            m.insert("content".into(), escape_template(text).into());
        }
        Content::Secret {
            template_var,
            env_var,
            ..
        } => {
            // Base64 keeps any secret value from breaking the YAML around
            // it; the expression is Terraform's, so it is not escaped.
            let expr = match env_var {
                Some(var) => format!("${{base64encode(\"{var}=${{{template_var}}}\\n\")}}"),
                None => format!("${{base64encode({template_var})}}"),
            };
            m.insert("encoding".into(), "b64".into());
            m.insert("content".into(), expr.into());
        }
    }
    if f.append {
        m.insert("append".into(), true.into());
    }
    if f.defer {
        m.insert("defer".into(), true.into());
    }
    Value::Object(m)
}

fn cmd(words: &[&str]) -> Value {
    Value::Array(words.iter().map(|w| Value::from(*w)).collect())
}

fn runcmd(plan: &Plan, host: &Host) -> Vec<Value> {
    let mut out = vec![
        cmd(&["rm", "-f", POLICY_RC_D]),
        cmd(&["systemctl", "daemon-reload"]),
    ];
    match host.role {
        Role::Broker => {
            if !plan.install.hold.is_empty() {
                // No upgrade moves the broker off the series it was
                // configured for; upgrading is a deliberate act.
                let mut words = vec!["apt-mark", "hold"];
                words.extend(plan.install.hold.iter().copied());
                out.push(cmd(&words));
            }
            // Every broker runs the bootstrap (a timer, retried until it
            // succeeds): a broker that is down at first boot does not stop
            // the others from creating the users.
            out.push(cmd(&[
                "systemctl",
                "enable",
                "--now",
                &format!("{}.timer", paths::BOOTSTRAP_UNIT),
            ]));
            // Last, so its failure is runcmd's: a broker of another series
            // than the configuration's is not started, and cloud-init
            // reports the error (the message is in the journal and in
            // /var/log/cloud-init-output.log).
            out.push(cmd(&[
                "sh",
                "-c",
                &format!(
                    "{} && systemctl enable --now rabbitmq-server",
                    paths::SERIES_CHECK
                ),
            ]));
        }
        Role::LoadBalancer => {
            out.push(cmd(&["sysctl", "--system"]));
            out.push(cmd(&["systemd-sysusers", paths::KEEPALIVED_SYSUSERS]));
            out.push(cmd(&["systemctl", "enable", "--now", "haproxy"]));
            out.push(cmd(&["systemctl", "enable", "--now", "keepalived"]));
        }
    }
    out
}

fn packages(role: Role) -> &'static [&'static str] {
    match role {
        Role::Broker => &["rabbitmq-server"],
        Role::LoadBalancer => &["haproxy", "keepalived"],
    }
}

/// The user-data of one host, as a Terraform template: the whole host on
/// the cloud-init path, the first-boot seed (secrets only) on the NixOS
/// path.
pub fn user_data(plan: &Plan, roles: &Roles, host: &Host) -> String {
    if plan.provisioning == Provisioning::Nixos {
        return nixos_seed(plan, roles, host);
    }
    let mut doc = Map::new();
    doc.insert("hostname".into(), host.name.clone().into());
    if let Some(fqdn) = &host.fqdn {
        doc.insert("fqdn".into(), fqdn.clone().into());
    }
    // rmqgen appends every host to /etc/hosts; cloud-init's own template
    // would map the host name to 127.0.1.1, which Erlang distribution must
    // not advertise.
    doc.insert("manage_etc_hosts".into(), false.into());
    if !plan.ssh_authorized_keys.is_empty() {
        let keys: Vec<Value> = plan
            .ssh_authorized_keys
            .iter()
            .map(|k| escape_template(k).into())
            .collect();
        doc.insert("ssh_authorized_keys".into(), keys.into());
    }
    if let Some(apt) = apt_config(plan, host) {
        doc.insert("apt".into(), apt);
    }
    doc.insert("package_update".into(), true.into());
    doc.insert("packages".into(), json!(packages(host.role)));
    let files: Vec<Value> = host_files(plan, roles, host)
        .iter()
        .map(write_file)
        .collect();
    doc.insert("write_files".into(), files.into());
    doc.insert("runcmd".into(), runcmd(plan, host).into());
    format!(
        "#cloud-config\n# Generated by rmqgen for {} of cluster {}: a Terraform template,\n# rendered by templatefile() with the cluster's secrets.\n{}",
        host.name,
        plan.name,
        yaml::to_string(&Value::Object(doc))
    )
}

/// The user-data of a NixOS host: its secrets as `write_files`, nothing
/// else (the image's cloud-init runs no other module, and the network
/// config travels separately).
fn nixos_seed(plan: &Plan, roles: &Roles, host: &Host) -> String {
    let files: Vec<Value> = host_files(plan, roles, host)
        .iter()
        .map(write_file)
        .collect();
    let mut doc = Map::new();
    doc.insert("write_files".into(), files.into());
    format!(
        "#cloud-config\n# Generated by rmqgen for {} of cluster {}: a Terraform template,\n# rendered by templatefile() with the cluster's secrets. The NixOS image's\n# cloud-init writes these files on first boot; the host's configuration\n# comes from nixos/ (nixos-rebuild switch --flake .#{}).\n{}",
        host.name,
        plan.name,
        host.name,
        yaml::to_string(&Value::Object(doc))
    )
}

/// The user-data of every host, as the bundle holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData {
    /// (host name, bundle path, template text), in the plan's host order.
    files: Vec<(String, String, String)>,
}

impl UserData {
    /// The bundle path of `host`'s user-data template, if there is one.
    pub fn path_of(&self, host: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|(h, _, _)| h == host)
            .map(|(_, p, _)| p.as_str())
    }

    /// (bundle path, text) of every template.
    pub(super) fn into_files(self) -> impl Iterator<Item = (String, String)> {
        self.files.into_iter().map(|(_, p, t)| (p, t))
    }
}

/// `cloud-init/<host>.yaml.tftpl` of every host.
pub(super) fn render(plan: &Plan, roles: &Roles) -> UserData {
    UserData {
        files: plan
            .hosts
            .iter()
            .map(|h| {
                (
                    h.name.clone(),
                    super::terraform::user_data_template(&h.name),
                    user_data(plan, roles, h),
                )
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_sequences_are_escaped() {
        assert_eq!(
            escape_template("a ${B} %{ if } $x %y"),
            "a $${B} %%{ if } $x %y"
        );
    }
}
