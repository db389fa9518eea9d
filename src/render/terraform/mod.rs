//! The Terraform root module: `terraform/versions.tf`, `providers.tf`,
//! `variables.tf`, `main.tf` and `outputs.tf`, for the provider the plan
//! targets (libvirt or Proxmox VE) and either provisioning.
//!
//! Both provisionings build the same module; only the image differs. With
//! cloud-init, VMs boot a distribution's cloud image and the user-data
//! sets up the whole host. With NixOS, VMs boot the NixOS image built from
//! the rendered flake (`nix build ./nixos#image`, a variable names it),
//! whose cloud-init takes the network config and a user-data that writes
//! only the host's secrets; `nixos-rebuild switch` then deploys each host's
//! configuration over SSH (the `deploy_commands` output).
//!
//! Every file is built from hcl-rs's typed structures and printed by
//! [`fmt`] exactly as `terraform fmt` would leave it. What both providers
//! share lives here:
//!
//! - `local.nodes`: one entry per host, keyed by host name, which every
//!   per-host resource iterates with `for_each` (so an address reads
//!   `libvirt_domain.node["rabbitmq-1"]`);
//! - the secrets: a `random_password`, a `file()` or a sensitive variable
//!   per [`Secret`], bound once in `local.cloud_init_vars`;
//! - the three cloud-init documents every VM boots with: the user-data
//!   (`templatefile` over `cloud-init/<host>.yaml.tftpl` with
//!   `local.cloud_init_vars`), the meta-data (instance id and host name) and
//!   the network config (v2, matched on the host's MAC, with the plan's
//!   interface name, address, gateway, resolvers and MTU);
//! - the variables, the outputs and the version pins.
//!
//! Secrets reach the VMs only through the user-data; no secret value is
//! ever in the bundle (rmqgen never sees one), nor, on NixOS, in the Nix
//! store.

mod expr;
mod fmt;
mod libvirt;
mod proxmox;

use hcl::expr::{BinaryOperator, Expression};
use hcl::structure::{Block, Body};

use self::expr::{
    call, each_key, each_value, for_map, ident, list, object, op, path, resource, string_map,
    template, type_keyword, Part,
};
use super::cloud_init::UserData;
use crate::plan::{paths, Host, Plan, Role, Secret};
use crate::spec::{Provider, Provisioning, SecretSource};

/// The bundle directory of the root module.
pub(crate) const DIR: &str = "terraform";

/// The bundle directory of the user-data templates, a sibling of [`DIR`].
pub(crate) const USER_DATA_DIR: &str = "cloud-init";

/// What a host's user-data template is named after the host name.
pub(crate) const USER_DATA_SUFFIX: &str = ".yaml.tftpl";

/// The local that binds every template variable, in `main.tf`.
pub(crate) const TEMPLATE_VARS_LOCAL: &str = "cloud_init_vars";

/// The Terraform version the module needs (`templatefile`, `sensitive()`,
/// variable validation, provider protocol 6).
const REQUIRED_VERSION: &str = ">= 1.5.0";

/// hashicorp/random, for generated secrets: the version
/// `scripts/tf-providers.sh` builds and the tests validate against
/// (`tests/data/random-3.9.0.schema.json`); `~>` keeps to 3.9.x.
const RANDOM: ProviderPin = ProviderPin {
    name: "random",
    source: "hashicorp/random",
    version: "~> 3.9.0",
};

/// A `required_providers` entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProviderPin {
    name: &'static str,
    source: &'static str,
    version: &'static str,
}

/// The bundle path of a host's user-data template.
pub(crate) fn user_data_template(host: &str) -> String {
    format!("{USER_DATA_DIR}/{host}{USER_DATA_SUFFIX}")
}

/// One variable of the user-data templates: the name the template uses and
/// what `templatefile` binds it to.
#[derive(Debug, Clone)]
pub(crate) struct TemplateVar {
    /// Name inside the template: a [`Secret::tf_name`].
    pub(crate) name: String,
    /// The Terraform expression bound to it.
    pub(crate) value: Expression,
}

/// Every variable the user-data templates receive, sorted by name: one per
/// secret, named by its `tf_name`. `main.tf` binds exactly these in
/// `local.cloud_init_vars`; the templates may use no others. (SSH keys are
/// public: the templates carry the spec's `ssh_authorized_keys` as text.)
pub(crate) fn template_vars(plan: &Plan) -> Vec<TemplateVar> {
    let mut vars = Vec::new();
    for s in &plan.secrets {
        if vars.iter().any(|v: &TemplateVar| v.name == s.tf_name) {
            continue;
        }
        vars.push(TemplateVar {
            name: s.tf_name.clone(),
            value: secret_value(s),
        });
    }
    vars.sort_by(|a, b| a.name.cmp(&b.name));
    vars
}

/// The URL scheme of a web link with or without TLS.
fn web(tls: bool) -> &'static str {
    if tls {
        "https"
    } else {
        "http"
    }
}

/// The expression that yields a secret's value.
fn secret_value(s: &Secret) -> Expression {
    match &*s.source {
        SecretSource::TerraformRandom {} => path("random_password", &[&s.tf_name, "result"]),
        SecretSource::Variable { name } => path("var", &[name]),
        SecretSource::File { path: file } => {
            // Relative paths are relative to the root module, wherever
            // Terraform runs from; `file()` alone would use the cwd.
            let at = if file.starts_with('/') {
                Expression::String(file.clone())
            } else {
                template(vec![
                    Part::Expr(path("path", &["module"])),
                    Part::Lit(format!("/{file}")),
                ])
            };
            // A file's content is not marked sensitive by Terraform; the
            // plan output must not show it.
            call("sensitive", [call("trimspace", [call("file", [at])])])
        }
    }
}

/// The three cloud-init documents of the `for_each` node at hand.
pub(crate) struct CloudInit {
    /// `templatefile(".../cloud-init/${each.key}.yaml.tftpl", local.cloud_init_vars)`.
    pub(crate) user_data: Expression,
    /// `yamlencode({ instance-id, local-hostname })`.
    pub(crate) meta_data: Expression,
    /// `yamlencode({ version = 2, ethernets = ... })`.
    pub(crate) network_config: Expression,
}

fn cloud_init(plan: &Plan) -> CloudInit {
    let template_file = template(vec![
        Part::Expr(path("path", &["module"])),
        Part::Lit(format!("/../{USER_DATA_DIR}/")),
        Part::Expr(each_key()),
        Part::Lit(USER_DATA_SUFFIX.to_string()),
    ]);
    let user_data = call(
        "templatefile",
        [template_file, path("local", &[TEMPLATE_VARS_LOCAL])],
    );
    let meta_data = call(
        "yamlencode",
        [object([
            ("instance-id", each_key()),
            ("local-hostname", each_key()),
        ])],
    );
    CloudInit {
        user_data,
        meta_data,
        network_config: network_config(plan),
    }
}

/// cloud-init network config v2 for the node at hand: the NIC is found by
/// its MAC and renamed to the plan's interface name (keepalived binds the
/// VIP there), with a static address, the gateway, resolvers and MTU.
fn network_config(plan: &Plan) -> Expression {
    let n = &plan.network;
    let mut nic = vec![
        ("match", object([("macaddress", each_value("mac"))])),
        ("set-name", Expression::String(n.interface.to_string())),
        (
            "addresses",
            list([template(vec![
                Part::Expr(each_value("address")),
                Part::Lit(format!("/{}", n.prefix)),
            ])]),
        ),
    ];
    if let Some(gw) = &n.gateway {
        nic.push((
            "routes",
            list([object([
                ("to", Expression::from("default")),
                ("via", Expression::String(gw.to_string())),
            ])]),
        ));
    }
    let mut resolvers = Vec::new();
    if !n.dns.is_empty() {
        resolvers.push((
            "addresses",
            list(n.dns.iter().map(|d| Expression::String(d.to_string()))),
        ));
    }
    if let Some(domain) = &plan.domain {
        resolvers.push(("search", list([Expression::String(domain.clone())])));
    }
    if !resolvers.is_empty() {
        nic.push(("nameservers", object(resolvers)));
    }
    if let Some(mtu) = n.mtu {
        nic.push(("mtu", mtu.into()));
    }
    call(
        "yamlencode",
        [object([
            ("version", 2.into()),
            (
                "ethernets",
                string_map([(n.interface.to_string(), object(nic))]),
            ),
        ])],
    )
}

/// The `role` value of a node in `local.nodes`.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::Broker => "broker",
        Role::LoadBalancer => "load_balancer",
    }
}

/// A typed, described input variable.
pub(crate) struct Variable {
    name: String,
    description: String,
    kind: Expression,
    default: Option<Expression>,
    sensitive: bool,
    validation: Option<(Expression, String)>,
}

impl Variable {
    fn new(name: &str, description: impl Into<String>, kind: Expression) -> Self {
        Self {
            name: name.to_string(),
            description: description.into(),
            kind,
            default: None,
            sensitive: false,
            validation: None,
        }
    }

    fn default(mut self, value: Expression) -> Self {
        self.default = Some(value);
        self
    }

    fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    fn validation(mut self, condition: Expression, message: impl Into<String>) -> Self {
        self.validation = Some((condition, message.into()));
        self
    }

    fn block(self) -> Block {
        let mut b = Block::builder("variable")
            .add_label(self.name)
            .add_attribute(("description", self.description))
            .add_attribute(("type", self.kind));
        if let Some(d) = self.default {
            b = b.add_attribute(("default", d));
        }
        if self.sensitive {
            b = b.add_attribute(("sensitive", true));
        }
        if let Some((condition, message)) = self.validation {
            b = b.add_block(
                Block::builder("validation")
                    .add_attribute(("condition", condition))
                    .add_attribute(("error_message", message))
                    .build(),
            );
        }
        b.build()
    }
}

/// What a provider contributes to the module.
pub(crate) struct Target {
    /// The provider's `required_providers` entry.
    pin: ProviderPin,
    /// Its `provider` block.
    provider: Block,
    /// Its input variables.
    variables: Vec<Variable>,
    /// Its locals, written before `nodes`.
    locals: Vec<(&'static str, Expression)>,
    /// Per-node fields beyond the common ones (e.g. the Proxmox VM id).
    node_fields: Vec<Vec<(&'static str, Expression)>>,
    /// Its resources, after the secrets.
    resources: Vec<Block>,
}

/// Renders `terraform/*.tf` (bundle path, text). Takes cloud-init's
/// user-data, so it comes after it: the module reads every host's
/// template at [`user_data_template`], which is where
/// `cloud_init::render`, the one maker of [`UserData`], puts every plan
/// host's (`user_data_templates_use_only_bound_variables` reads them there).
pub(super) fn render(plan: &Plan, _user_data: &UserData) -> Vec<(String, String)> {
    files(plan)
        .into_iter()
        .map(|(name, text)| (format!("{DIR}/{name}"), text))
        .collect()
}

/// The module's files, by name.
fn files(plan: &Plan) -> Vec<(&'static str, String)> {
    let docs = cloud_init(plan);
    let target = match plan.target.provider {
        Provider::Libvirt => libvirt::target(plan, docs),
        Provider::Proxmox => proxmox::target(plan, docs),
    };
    let header = vec![
        format!(
            "Generated by rmqgen for cluster {}. Change the spec and render",
            plan.name
        ),
        "again instead of editing this file.".to_string(),
    ];
    let uses_random = plan
        .secrets
        .iter()
        .any(|s| matches!(*s.source, SecretSource::TerraformRandom {}));

    let mut pins = vec![target.pin];
    if uses_random {
        pins.push(RANDOM);
    }
    let versions = Body::builder().add_block(versions(&pins)).build();
    let providers = Body::builder().add_block(target.provider).build();
    let variables = Body::builder()
        .add_blocks(variables(plan, target.variables))
        .build();
    let main = Body::builder()
        .add_block(locals(plan, target.locals, target.node_fields))
        .add_blocks(random_passwords(plan))
        .add_blocks(target.resources)
        .build();
    let outputs = Body::builder().add_blocks(outputs(plan)).build();

    let mut out = Vec::new();
    for (name, body) in [
        ("versions.tf", versions),
        ("providers.tf", providers),
        ("variables.tf", variables),
        ("main.tf", main),
        ("outputs.tf", outputs),
    ] {
        out.push((name, fmt::file(&header, &body)));
    }
    out
}

fn versions(pins: &[ProviderPin]) -> Block {
    let mut required = Block::builder("required_providers");
    for p in pins {
        required = required.add_attribute((
            p.name,
            object([
                ("source", Expression::from(p.source)),
                ("version", Expression::from(p.version)),
            ]),
        ));
    }
    Block::builder("terraform")
        .add_attribute(("required_version", REQUIRED_VERSION))
        .add_block(required.build())
        .build()
}

/// Every variable, sorted by name: the provider's and one sensitive string
/// per secret that a variable supplies.
fn variables(plan: &Plan, mut vars: Vec<Variable>) -> Vec<Block> {
    for s in &plan.secrets {
        let SecretSource::Variable { name } = &*s.source else {
            continue;
        };
        if let Some(v) = vars.iter_mut().find(|v| &v.name == name) {
            // One variable may feed several secrets.
            v.description.push_str(&format!("; also the {}", s.purpose));
            continue;
        }
        ident(name);
        let mut v = Variable::new(
            name,
            format!("Secret: the {} (rmqgen secret {}).", s.purpose, s.id),
            type_keyword("string"),
        )
        .sensitive();
        if s.env_var == Some(paths::VRRP_AUTH_PARAM) {
            // keepalived would truncate a longer password, and read
            // quotes, comment signs, `$` or blanks as its own syntax.
            v = v.validation(
                call(
                    "can",
                    [call(
                        "regex",
                        [
                            Expression::from("^[A-Za-z0-9._+:@%/=,-]{1,8}$"),
                            path("var", &[name]),
                        ],
                    )],
                ),
                format!("{name} must be 1 to 8 letters, digits or . _ + : @ % / = , - (keepalived's VRRPv2 auth_pass)."),
            );
        }
        vars.push(v);
    }
    vars.sort_by(|a, b| a.name.cmp(&b.name));
    vars.into_iter().map(Variable::block).collect()
}

/// `locals`: the VIP, the provider's settings, the nodes and the template
/// variables.
fn locals(
    plan: &Plan,
    provider: Vec<(&'static str, Expression)>,
    node_fields: Vec<Vec<(&'static str, Expression)>>,
) -> Block {
    let mut nodes = Vec::new();
    for (i, host) in plan.hosts.iter().enumerate() {
        let mut fields = node(host);
        if let Some(extra) = node_fields.get(i) {
            fields.extend(extra.iter().cloned());
        }
        nodes.push((host.name.to_string(), object(fields)));
    }
    let vars = template_vars(plan)
        .into_iter()
        .map(|v| (ident(&v.name), v.value))
        .collect::<Vec<_>>();
    let mut template_map = hcl::Object::new();
    for (k, v) in vars {
        template_map.insert(hcl::ObjectKey::Identifier(k), v);
    }

    let mut b = Block::builder("locals").add_attribute(("vip", plan.vip.to_string()));
    for (k, v) in provider {
        b = b.add_attribute((k, v));
    }
    b.add_attribute(("nodes", string_map(nodes)))
        .add_attribute((TEMPLATE_VARS_LOCAL, Expression::Object(template_map)))
        .build()
}

/// The common fields of a node in `local.nodes`.
fn node(host: &Host) -> Vec<(&'static str, Expression)> {
    vec![
        ("address", Expression::String(host.address.to_string())),
        ("mac", Expression::String(host.mac.clone())),
        ("role", Expression::from(role_name(host.role))),
        ("vcpus", (*host.resources.vcpus).into()),
        ("memory_mib", (*host.resources.memory_mib).into()),
        ("disk_gib", (*host.resources.disk_gib).into()),
    ]
}

/// One `random_password` per generated secret.
fn random_passwords(plan: &Plan) -> Vec<Block> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for s in &plan.secrets {
        if !matches!(*s.source, SecretSource::TerraformRandom {}) || seen.contains(&&s.tf_name) {
            continue;
        }
        seen.push(&s.tf_name);
        out.push(
            resource("random_password", &s.tf_name)
                .add_attribute(("length", s.length))
                .add_attribute(("special", s.special))
                .build(),
        );
    }
    out
}

fn output(name: &str, description: impl Into<String>, value: Expression) -> Block {
    Block::builder("output")
        .add_label(name)
        .add_attribute(("description", description.into()))
        .add_attribute(("value", value))
        .build()
}

fn outputs(plan: &Plan) -> Vec<Block> {
    let h = &plan.haproxy;
    let mut out = vec![
        output(
            "vip",
            "The virtual IP clients connect to; keepalived holds it on one load balancer.",
            path("local", &["vip"]),
        ),
        output(
            "amqp_endpoint",
            "AMQP endpoint of the cluster, through the VIP.",
            Expression::String(format!(
                "{}://{}:{}",
                if plan.tls.amqp { "amqps" } else { "amqp" },
                plan.vip,
                h.amqp_port
            )),
        ),
    ];
    if let Some(port) = &h.management_port {
        out.push(output(
            "management_url",
            "RabbitMQ management UI, through the VIP.",
            Expression::String(format!(
                "{}://{}:{port}/",
                web(plan.tls.management),
                plan.vip
            )),
        ));
    }
    out.push(output(
        "stats_urls",
        format!(
            "HAProxy statistics page of each load balancer (user {}, password in generated_secrets or its source).",
            h.stats.user
        ),
        string_map(plan.load_balancers.iter().map(|lb| {
            (
                lb.name.to_string(),
                Expression::String(format!(
                    "{}://{}:{}{}",
                    web(plan.tls.stats),
                    lb.address,
                    h.stats.port,
                    h.stats.uri
                )),
            )
        })),
    ));
    let nodes = || path("local", &["nodes"]);
    let address = || path("node", &["address"]);
    let role_is = |role: Role| -> Expression {
        op(
            path("node", &["role"]),
            BinaryOperator::Eq,
            Expression::from(role_name(role)),
        )
    };
    out.push(output(
        "node_addresses",
        "Address of every host, by name.",
        for_map("name", "node", nodes(), address(), None),
    ));
    out.push(output(
        "broker_addresses",
        "Address of every broker, by name.",
        for_map(
            "name",
            "node",
            nodes(),
            address(),
            Some(role_is(Role::Broker)),
        ),
    ));
    out.push(output(
        "load_balancer_addresses",
        "Address of every load balancer, by name.",
        for_map(
            "name",
            "node",
            nodes(),
            address(),
            Some(role_is(Role::LoadBalancer)),
        ),
    ));
    if plan.provisioning == Provisioning::Nixos {
        out.push(output(
            "deploy_commands",
            "Deploys each host's NixOS configuration once its VM is up: run from the rendered nixos/ directory (a Git checkout: a flake sees only tracked files).",
            for_map(
                "name",
                "node",
                nodes(),
                template(vec![
                    Part::Lit("nixos-rebuild switch --flake .#".into()),
                    Part::Expr(path("name", &[])),
                    Part::Lit(" --target-host root@".into()),
                    Part::Expr(address()),
                ]),
                None,
            ),
        ));
    }
    let mut generated = Vec::new();
    for s in &plan.secrets {
        if matches!(*s.source, SecretSource::TerraformRandom {}) {
            generated.push((
                s.id.clone(),
                path("random_password", &[&s.tf_name, "result"]),
            ));
        }
    }
    if !generated.is_empty() {
        out.push(
            Block::builder("output")
                .add_label("generated_secrets")
                .add_attribute((
                    "description",
                    "Secrets Terraform generated, by rmqgen secret id (terraform output -json generated_secrets).",
                ))
                .add_attribute(("value", string_map(generated)))
                .add_attribute(("sensitive", true))
                .build(),
        );
    }
    out
}

/// The cloud image variable's description: `what`, for the spec's OS, with
/// the release's official image as the example.
pub(crate) fn cloud_image_description(what: &str, plan: &Plan) -> String {
    let release = crate::plan::platform::release(*plan.os);
    format!(
        "{what}: {} with cloud-init, as the spec's os says (the install source and the configuration are rendered for it), e.g. {}.",
        release.title, release.image_url
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn plan(source: &str) -> Plan {
        crate::compile(source).expect("example compiles").plan
    }

    #[test]
    fn every_secret_is_a_template_variable() {
        for source in [
            include_str!("../../../examples/five-vm.json"),
            include_str!("../../../examples/quorum-4x.json"),
            include_str!("../../../examples/five-brokers-three-lbs.json"),
            include_str!("../../../examples/five-vm-nixos.json"),
        ] {
            let plan = plan(source);
            let vars = template_vars(&plan);
            for s in &plan.secrets {
                assert!(vars.iter().any(|v| v.name == s.tf_name), "{}", s.tf_name);
            }
            assert_eq!(vars.len(), plan.secrets.len());
        }
    }

    /// Root variable names an HCL template references.
    fn template_refs(template: &hcl::Template, out: &mut BTreeSet<String>) {
        use hcl::template::{Directive, Element};
        for element in template.elements() {
            match element {
                Element::Literal(_) => {}
                Element::Interpolation(i) => expr_refs(&i.expr, out),
                Element::Directive(d) => match d.as_ref() {
                    Directive::If(d) => {
                        expr_refs(&d.cond_expr, out);
                        template_refs(&d.true_template, out);
                        if let Some(f) = &d.false_template {
                            template_refs(f, out);
                        }
                    }
                    Directive::For(d) => {
                        expr_refs(&d.collection_expr, out);
                        let mut inner = BTreeSet::new();
                        template_refs(&d.template, &mut inner);
                        inner.remove(d.value_var.as_str());
                        if let Some(k) = &d.key_var {
                            inner.remove(k.as_str());
                        }
                        out.extend(inner);
                    }
                },
            }
        }
    }

    fn expr_refs(expr: &Expression, out: &mut BTreeSet<String>) {
        match expr {
            Expression::Variable(v) => {
                out.insert(v.to_string());
            }
            Expression::Traversal(t) => expr_refs(&t.expr, out),
            Expression::FuncCall(f) => f.args.iter().for_each(|a| expr_refs(a, out)),
            Expression::Array(a) => a.iter().for_each(|a| expr_refs(a, out)),
            Expression::Object(o) => o.values().for_each(|v| expr_refs(v, out)),
            Expression::Parenthesis(e) => expr_refs(e, out),
            Expression::Conditional(c) => {
                expr_refs(&c.cond_expr, out);
                expr_refs(&c.true_expr, out);
                expr_refs(&c.false_expr, out);
            }
            Expression::Operation(o) => match o.as_ref() {
                hcl::expr::Operation::Unary(u) => expr_refs(&u.expr, out),
                hcl::expr::Operation::Binary(b) => {
                    expr_refs(&b.lhs_expr, out);
                    expr_refs(&b.rhs_expr, out);
                }
            },
            Expression::TemplateExpr(t) => {
                let inner = hcl::Template::from_expr(t).expect("nested template parses");
                template_refs(&inner, out);
            }
            Expression::ForExpr(_) => panic!("for expressions: extend this walker"),
            _ => {}
        }
    }

    /// The two sides of `templatefile`: every variable a user-data template
    /// of any example references is one `local.cloud_init_vars` binds, and
    /// every host's template is in the bundle (`templatefile` fails on
    /// either).
    #[test]
    fn user_data_templates_use_only_bound_variables() {
        for source in [
            include_str!("../../../examples/five-vm.json"),
            include_str!("../../../examples/quorum-4x.json"),
            include_str!("../../../examples/five-brokers-three-lbs.json"),
            include_str!("../../../examples/five-vm-nixos.json"),
        ] {
            let out = crate::compile(source).unwrap();
            let bound: BTreeSet<String> = template_vars(&out.plan)
                .into_iter()
                .map(|v| v.name)
                .collect();
            for host in &out.plan.hosts {
                let path = user_data_template(&host.name);
                let text = out.bundle.get(&path).unwrap().text();
                let template: hcl::Template = text
                    .parse()
                    .unwrap_or_else(|e| panic!("{path} is not a Terraform template: {e}"));
                let mut refs = BTreeSet::new();
                template_refs(&template, &mut refs);
                let unbound: Vec<&String> = refs.difference(&bound).collect();
                assert!(unbound.is_empty(), "{path} uses unbound {unbound:?}");
                // The walker sees the secrets the host installs.
                for s in out.plan.secrets.iter().filter(|s| s.role == host.role) {
                    assert!(refs.contains(&s.tf_name), "{path} lacks {}", s.tf_name);
                }
            }
        }
    }

    #[test]
    fn secret_sources_become_references() {
        let plan = plan(include_str!("../../../examples/quorum-4x.json"));
        let text = |id: &str| {
            let s = plan.secret(id).unwrap();
            fmt::inline(&secret_value(s))
        };
        assert_eq!(
            text("erlang-cookie"),
            r#"sensitive(trimspace(file("${path.module}/secrets/erlang-cookie")))"#
        );
        assert_eq!(
            text("rabbitmq-user-orders-service"),
            "var.orders_service_password"
        );
        assert_eq!(
            text("rabbitmq-user-ops"),
            "random_password.rabbitmq_user_ops_password.result"
        );
    }

    #[test]
    fn own_variables_are_reserved_for_secrets() {
        use crate::plan::names::TERRAFORM_OWN_VARIABLES as OWN_VARIABLES;
        for name in OWN_VARIABLES {
            assert_eq!(ident(name).as_str(), *name, "an identifier as it is");
        }
        let mut sorted = OWN_VARIABLES.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), OWN_VARIABLES.len());
    }
}
