//! Diagnostics: what is wrong with a spec, where, and how to fix it.

use std::fmt;

use serde::Serialize;

/// How bad a diagnostic is. Errors stop rendering; warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The spec cannot be rendered.
    Error,
    /// The spec renders, but something deserves a look.
    Warning,
}

/// A position in the spec's source text (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// One problem in a spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable code, see [`Code`] and `rmqgen explain`.
    pub code: Code,
    /// JSON pointer (RFC 6901) to the offending value; `""` is the document.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Where the offending value starts in the source, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

impl Diagnostic {
    /// An error at `pointer`.
    pub fn error(code: Code, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            pointer: pointer.into(),
            message: message.into(),
            hint: None,
            location: None,
        }
    }

    /// A warning at `pointer`.
    pub fn warning(code: Code, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, pointer, message)
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let pointer = if self.pointer.is_empty() {
            "(document)"
        } else {
            &self.pointer
        };
        write!(f, "{severity}[{}] {pointer}", self.code)?;
        if let Some(Location { line, column }) = self.location {
            write!(f, " (line {line}, column {column})")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// All diagnostics of one spec, sorted by pointer, then code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// No diagnostics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// True when at least one diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.count(Severity::Error)
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.0.iter().filter(|d| d.severity == severity).count()
    }

    /// How many errors and warnings, for a closing line: `2 errors, 1
    /// warning`, `1 warning` or `no problems`.
    ///
    /// ```
    /// let d = rmqgen::diagnose(&rmqgen::reference_spec());
    /// // Classic mirroring is deprecated, and no SSH key is given.
    /// assert_eq!(d.summary(), "2 warnings");
    /// ```
    pub fn summary(&self) -> String {
        fn count(n: usize, what: &str) -> String {
            format!("{n} {what}{}", if n == 1 { "" } else { "s" })
        }
        let (errors, warnings) = (self.error_count(), self.warning_count());
        match (errors, warnings) {
            (0, 0) => "no problems".to_string(),
            (0, w) => count(w, "warning"),
            (e, 0) => count(e, "error"),
            (e, w) => format!("{}, {}", count(e, "error"), count(w, "warning")),
        }
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Sorts (pointer, code, message) so output is stable whatever order the
    /// rules ran in, and drops exact duplicates.
    pub(crate) fn finish(mut self) -> Self {
        self.0.sort_by(|a, b| {
            pointer_key(&a.pointer)
                .cmp(&pointer_key(&b.pointer))
                .then_with(|| (a.code, &a.message).cmp(&(b.code, &b.message)))
        });
        self.0.dedup();
        self
    }

    /// Fills in source locations from the spec text the pointers point
    /// into (for diagnostics of a spec built from that text).
    pub fn locate(&mut self, source: &str) {
        let index = crate::locate::PointerIndex::new(source);
        for d in &mut self.0 {
            if d.location.is_none() {
                d.location = index.find(&d.pointer);
            }
        }
    }
}

/// Sort key of a JSON pointer: array indices compare as numbers, so
/// `/brokers/2` comes before `/brokers/10`.
fn pointer_key(pointer: &str) -> Vec<(u64, &str)> {
    pointer
        .split('/')
        .map(|t| match t.parse::<u64>() {
            Ok(n) => (n, ""),
            Err(_) => (u64::MAX, t),
        })
        .collect()
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

macro_rules! codes {
    ($( $variant:ident = $code:literal, $title:literal, $explain:literal; )*) => {
        /// Stable diagnostic codes. `rmqgen explain CODE` prints the long
        /// form, `rmqgen explain --list` all of them. Codes compare by
        /// number.
        ///
        /// ```
        /// use rmqgen::Code;
        /// assert_eq!(Code::parse("rmq062"), Some(Code::NoFailover));
        /// assert_eq!(Code::NoFailover.number(), 62);
        /// assert_eq!(Code::first().as_str(), "RMQ001");
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $( #[doc = $title] $variant, )*
        }

        impl Code {
            /// Every code, in the order of the table in the source (not
            /// by number: sort them, they compare by number).
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as printed, e.g. `RMQ062`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// One-line title.
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)* }
            }

            /// Why the rule exists.
            pub fn explanation(self) -> &'static str {
                match self { $(Code::$variant => $explain,)* }
            }

            /// Looks a code up by its printed form (case-insensitive).
            pub fn parse(s: &str) -> Option<Code> {
                let s = s.trim().to_ascii_uppercase();
                Code::ALL.iter().copied().find(|c| c.as_str() == s)
            }
        }
    };
}

impl Code {
    /// The number, e.g. 62 for `RMQ062`.
    pub fn number(self) -> u16 {
        // Every printed form is `RMQ` and three digits (a unit test says
        // so); the table is the only input.
        self.as_str()
            .bytes()
            .skip(3)
            .fold(0, |n, b| n * 10 + u16::from(b.wrapping_sub(b'0')))
    }

    /// The lowest code (`RMQ001`).
    pub fn first() -> Code {
        Code::ALL.iter().copied().min().unwrap_or(Code::Syntax)
    }

    /// The highest code. Derived from the table, so a new code moves it.
    pub fn last() -> Code {
        Code::ALL.iter().copied().max().unwrap_or(Code::Syntax)
    }
}

impl PartialOrd for Code {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Code {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.number().cmp(&other.number())
    }
}

codes! {
    Syntax = "RMQ001", "The spec is not valid JSON",
        "The file could not be read as JSON. The location points at the first character the parser could not accept.";
    Shape = "RMQ002", "A value has the wrong type or an unknown field",
        "Every object in the spec denies unknown fields, so a typo in a key is an error rather than a silently ignored setting. Types follow schemas/topology.schema.json; point your editor at it with \"$schema\".";
    InlineSecret = "RMQ003", "A secret was written inline",
        "Secrets (passwords, the Erlang cookie) are never accepted inline: a spec is committed to a repository and rendered output is world-readable. Give a source instead: {\"from\": \"terraform-random\"}, {\"from\": \"file\", \"path\": ...} or {\"from\": \"variable\", \"name\": ...}.";
    Name = "RMQ010", "A name is not a valid RFC 1123 label",
        "Host names become Erlang node names (rabbit@NAME), /etc/hosts entries, Terraform keys and file names. An RFC 1123 label (1-63 characters of a-z, 0-9 and '-', not starting or ending with '-') is safe in all of them. The original setup used dotted names like rabbitmq.s.o, which RabbitMQ treats as long names and which do not match the short host name.";
    DuplicateName = "RMQ011", "Two hosts share a name",
        "Every host needs a unique name: it keys the Terraform for_each map, the Erlang node name and /etc/hosts.";
    Charset = "RMQ012", "A value contains characters that are not allowed",
        "Values placed into line-oriented configuration files (haproxy.cfg, keepalived.conf, rabbitmq.conf, shell scripts) are restricted to a character set that needs no escaping, so that no value can ever inject a directive.";
    Address = "RMQ020", "An address is not an IPv4 address or CIDR",
        "Addresses are dotted-quad IPv4 (192.168.247.150); the network is CIDR (192.168.247.0/24). keepalived's VRRP VIP and the static guest addresses need IPv4 here.";
    OutsideNetwork = "RMQ021", "An address is outside the network",
        "Every host, the gateway and the VIP must be inside network.cidr: VRRP moves the VIP by gratuitous ARP on one L2 segment, so the VIP must be in the subnet of the interface keepalived runs on.";
    DuplicateAddress = "RMQ022", "Two hosts share an address",
        "Each host needs its own address, and the VIP must belong to no host: otherwise ARP answers from two machines and clients reach whichever answered last.";
    ReservedAddress = "RMQ023", "The network or broadcast address is used",
        "The first address of a subnet names the network and the last is the broadcast address; neither can be assigned to a host or the VIP.";
    BrokerCount = "RMQ030", "Broker count",
        "A cluster needs at least one broker. Quorum queues and pause_minority need a majority: with an even count, a clean split leaves no side with a majority, so an odd count (3, 5, 7) tolerates the same failures with one machine less.";
    LoadBalancerCount = "RMQ031", "Fewer than two load balancers",
        "The VIP is highly available only if a second load balancer can take it over: keepalived needs at least two peers.";
    Version = "RMQ040", "Unsupported RabbitMQ version",
        "rmqgen knows RabbitMQ 3.10 (Debian 12) to 4.3. The version decides which settings exist: per-vhost default queue type from 3.11, no classic mirroring from 4.0, no Mnesia partition handling from 4.2 (new clusters use Khepri) and 4.3 (Mnesia removed).";
    ClassicMirroringRemoved = "RMQ041", "Classic queue mirroring on RabbitMQ 4.x",
        "Classic queue mirroring (ha-mode policies) was deprecated in 3.9 and removed in 4.0: a 4.x broker ignores the policy and queues are not replicated at all. Use quorum queues (queue_ha.mode = quorum).";
    ClassicMirroringDeprecated = "RMQ042", "Classic queue mirroring is deprecated",
        "Classic mirroring is deprecated since 3.9 and gone in 4.0. It still works on 3.x, but plan the move to quorum queues, which replicate with Raft and do not lose confirmed messages on leader failure.";
    Replicas = "RMQ044", "Replica count out of range",
        "A queue cannot have more replicas than there are brokers, and fewer than 1 makes no sense; for quorum queues fewer than 3 replicas cannot survive the loss of one.";
    PartitionIgnore = "RMQ045", "cluster_partition_handling = ignore with 3 or more brokers",
        "With 'ignore', both sides of a network partition keep accepting writes and the data diverges. For 3 or more brokers use pause_minority (the default) or autoheal.";
    PartitionHandlingIgnored = "RMQ046", "Partition handling has no effect on this version",
        "A new RabbitMQ 4.2 cluster uses Khepri (Raft) as its metadata store, and 4.3 removed Mnesia: cluster_partition_handling is accepted but has no effect (Khepri's recovery is fixed and resembles pause_minority), so rmqgen does not write it.";
    DefaultQueueType = "RMQ047", "Quorum default queue type needs RabbitMQ 3.11",
        "Before 3.11 a vhost has no default queue type: clients must declare quorum queues with the x-queue-type=quorum argument themselves, or they get unreplicated classic queues.";
    Users = "RMQ048", "A user or vhost is not usable",
        "Users need unique names other than guest (guest is for localhost only and its password is public), and permissions can only name vhosts the spec creates.";
    Plugin = "RMQ049", "Unknown plugin name",
        "Plugin names are Erlang application names: lower-case letters, digits and underscores, starting with rabbitmq_.";
    Timeout = "RMQ050", "HAProxy timeout does not exceed the AMQP heartbeat",
        "HAProxy closes a connection that was idle for 'timeout client' or 'timeout server'. An AMQP connection with heartbeat H sends a frame only every H/2 seconds when idle, so a timeout at or below H cuts healthy idle connections. The original setup used 10 s against the 60 s default heartbeat: every idle consumer was disconnected after exactly 10 s.";
    HeartbeatDisabled = "RMQ051", "AMQP heartbeat disabled or out of range",
        "With heartbeat 0 idle connections send nothing and HAProxy's inactivity timeout is the only thing that ends dead ones. The AMQP heartbeat is a 16-bit field: at most 65535 s.";
    HealthCheck = "RMQ052", "Health check timing out of range",
        "Check intervals must be positive and rise/fall at least 1. A dead broker stays in rotation for about interval × fall; the original's 5 s × 2 kept it there for about 8 s.";
    PortConflict = "RMQ053", "Port out of range or used twice",
        "Ports are 1..65535, and each listener on a host needs its own port.";
    Limit = "RMQ054", "An HAProxy limit is out of range",
        "maxconn and the stats refresh interval must be positive.";
    RouterId = "RMQ060", "VRRP virtual router id out of range",
        "virtual_router_id is a byte, 1..=255, and must be unique on the L2 segment.";
    Priority = "RMQ061", "VRRP priority out of range or ambiguous",
        "Priorities are 1..=254 (255 is reserved for the address owner). Equal priorities are broken by the higher IP address, which is rarely what was meant.";
    NoFailover = "RMQ062", "A failed health check cannot move the VIP",
        "With a weight-based track script, a failing master's priority drops by |weight|. The VIP moves only if the lowered priority is strictly below a healthy backup's. The original setup: master 100, weight -20 gives 80, equal to the backup's 80, so the VIP never moved when HAProxy died. Rule: highest priority + weight < lowest priority. Or use track mode 'fault', which releases the VIP at once.";
    AuthPass = "RMQ063", "VRRP auth_pass is not usable",
        "keepalived implements authentication for VRRPv2 only (auth_type PASS): VRRPv3 (RFC 5798) removed it, and keepalived 2.2.7 ignores an authentication block under vrrp_version 3 (\"VRRP version 3 does not support authentication. Ignoring.\"; keepalived -t exits 5), so the adverts would go out unauthenticated while the spec says otherwise. Unicast adverts with check_unicast_src (the default transport) are what keeps other hosts out under VRRPv3.";
    NoPreemptMaster = "RMQ064", "nopreempt with initial state MASTER",
        "keepalived ignores nopreempt on an instance whose initial state is MASTER ('nopreempt will not work with initial state MASTER'), so the first load balancer always takes the VIP back: every recovery moves the VIP twice. With preempt = false every load balancer must start as BACKUP.";
    AdvertInterval = "RMQ065", "VRRP advert interval not supported",
        "VRRPv2 adverts are whole seconds (1..255); VRRPv3 allows centiseconds (10 ms..40 s). The backup takes over after about 3 adverts.";
    VrrpVersion = "RMQ067", "VRRP version does not exist",
        "keepalived speaks VRRP version 2 (RFC 3768) and 3 (RFC 5798). Version 3 allows sub-second adverts and has no authentication.";
    Interface = "RMQ070", "Invalid interface name",
        "Linux interface names are 1-15 characters without '/', ':' or white space.";
    Mtu = "RMQ072", "MTU out of range",
        "IPv4 needs at least 576; Ethernet jumbo frames stop at 9216. Leave it unset for the OS default.";
    Domain = "RMQ071", "Invalid DNS domain",
        "The domain is a dot-separated list of RFC 1123 labels, at most 253 characters.";
    SshKey = "RMQ073", "Not an SSH public key",
        "ssh_authorized_keys takes OpenSSH public key lines (ssh-ed25519, ssh-rsa, ecdsa-sha2-*, sk-*), one per entry, printable, without line breaks. Never a private key.";
    FirewallSource = "RMQ074", "A firewall source range is not usable",
        "firewall.client_cidrs, admin_cidrs and monitoring_cidrs are IPv4 subnets in CIDR notation (ADDRESS/PREFIX, host bits zero, e.g. \"10.20.0.0/16\"; a single address is ADDRESS/32), written once each: the cluster is IPv4 (network.cidr), and the nftables rules match IPv4 sources. A range that does not parse is never widened to \"anywhere\": the spec is refused.";
    FirewallOpen = "RMQ075", "The firewall opens a port to every network",
        "admin_cidrs opens SSH on every host, the management UI (where an administrator logs in) and the HAProxy statistics page; monitoring_cidrs opens the brokers' Prometheus endpoint, which answers without authentication. 0.0.0.0/0 in either list exposes them to every network that can route to the hosts. List the operators' and Prometheus servers' subnets instead (the default is network.cidr). client_cidrs may be 0.0.0.0/0 on purpose (a public AMQP endpoint): it opens only AMQP on the VIP.";
    FirewallClosed = "RMQ076", "A firewall list admits nobody",
        "An empty client_cidrs drops every AMQP client at the VIP; an empty admin_cidrs leaves no way to log in over SSH (nixos-rebuild --target-host needs it) nor to reach the management UI; an empty monitoring_cidrs leaves Prometheus without a target. Leave the list out for its default (network.cidr), or name the subnets that need it.";
    Secret = "RMQ080", "A secret source is not usable",
        "Secret files are read by Terraform at plan time, variables are declared sensitive; both need a plain path or a valid identifier.";
    Resources = "RMQ090", "VM size out of range",
        "vCPUs, memory and disk must be positive: a broker needs at least 1 vCPU and 512 MiB to boot.";
    TerraformName = "RMQ081", "A name clashes in the Terraform module",
        "A secret supplied by a Terraform variable declares variable \"NAME\" in terraform/variables.tf: the name must not be one rmqgen declares itself (base_image, base_image_url, nixos_image, nixos_image_url, proxmox_*) nor one Terraform reserves (count, depends_on, for_each, lifecycle, locals, providers, source, version). Each user's password is also a template variable, and a random_password when generated, named rabbitmq_user_<name>_password in lower-case letters, digits and '_': two users whose names differ only in case or punctuation would share it.";
    VmId = "RMQ091", "Proxmox VM ids out of range or used twice",
        "Proxmox VE numbers guests from 100 to 999999999, and a VM id is the VM's identity: Terraform replaces a VM whose id changes. A host's id is its own vm_id, or derived from the cluster and host names as target.proxmox.vm_id_base + (hash mod 10000), so adding or removing a host never moves another's. Every id must be in range and unique; two derived ids that collide are resolved by setting vm_id on one of the hosts (keep the id a running VM already has).";
    NixosCheckInterval = "RMQ100", "Retired: keepalived check timing that NixOS could not express",
        "Retired; no spec reports it any more, and the number is not reused. It refused a keepalived.check_interval_ms that is not whole seconds with provisioning = nixos, when the NixOS modules built the check through nixpkgs' services.keepalived.vrrpScripts, whose interval is an int of seconds. The generated NixOS hosts now install the keepalived.conf rmqgen renders for every path, which writes the interval in decimal seconds (e.g. 1.5), as keepalived takes it.";
    NixosHostName = "RMQ102", "A host name is taken by a file of the NixOS flake",
        "With provisioning = nixos each host's configuration is nixos/<name>.nix, next to rmqgen's common.nix (what every host shares), image.nix (the first-boot image), flake.nix and the operator's site.nix. A host named common, flake, image or site would overwrite one of them or be overwritten: rename the host.";
    NixosRabbitVersion = "RMQ101", "RabbitMQ version other than the one NixOS ships",
        "With provisioning = nixos the brokers run pkgs.rabbitmq-server of the NixOS release the generated flake follows (rmqgen knows which series that is). The settings depend on the series (no classic mirroring from 4.0, no partition handling from 4.3), so the broker module refuses a package of another series than rabbitmq.version: either use the series NixOS ships, or keep rabbitmq.version and pin a package of that series with services.rmqgen.broker.package (for example in site.nix).";
    PackageMirrors = "RMQ103", "The VMs cannot reach package mirrors",
        "With provisioning = cloud-init (the default) each VM's user-data installs its packages at first boot (rabbitmq-server on brokers, haproxy and keepalived on load balancers) with apt from the image's mirrors. Without network.gateway the VMs have no default route, and without network.dns they cannot resolve the mirror's name: the install fails and the host never runs its service. The warning does not apply to an image whose apt sources name a mirror inside network.cidr by address. NixOS hosts are not affected: nixos-rebuild --target-host copies everything from the deploying machine.";
    InstallSeries = "RMQ104", "The OS and install source cannot give this RabbitMQ series",
        "On the cloud-init path the brokers install rabbitmq-server at first boot from the source rabbitmq.install names, on the image family os names (default debian-13). Each distribution ships one series (Debian 12: 3.10, Debian 13: 4.0, Ubuntu 24.04: 3.12, Ubuntu 22.04: 3.9, which rmqgen does not support); Team RabbitMQ's repositories carry 3.13 to 4.3 with a matching Erlang (4.0 and later on Debian 13, whose own Erlang 27 is too new for 3.13). A broker of another series than rabbitmq.version rejects the configuration rmqgen writes for it, or silently runs without it. Pick an os whose own package is the series, {\"from\": \"team-rabbitmq\"}, or a mirror that carries it.";
    InstallSource = "RMQ105", "An apt setting is not usable",
        "A mirror's URL, suite and component, its keyring path and the apt proxy are written into apt's sources and configuration: URLs must be http(s) without spaces or quotes, the keyring an absolute path on the hosts (the image provides it; rmqgen only refers to it), suite and component plain tokens.";
    KeepalivedScriptTiming = "RMQ106", "keepalived on this OS cannot take a fractional check interval",
        "keepalived takes vrrp_script interval and timeout with millisecond resolution only from 2.3.2 (Debian 13 has 2.3.3). Debian 12 (2.2.7) and Ubuntu 22.04/24.04 (2.2.x) reject a value such as 0.5 and run the check at their default instead.";
    VrrpUnprotected = "RMQ107", "Any host on the segment can take the VIP",
        "keepalived gives the VIP to the highest-priority VRRP speaker it hears. With transport = unicast (the default) each load balancer sends its adverts to its peers' addresses and, with check_unicast_src, accepts adverts only from those addresses: a host that speaks VRRP from any other address is ignored (one that forges a peer's address needs the network itself to stop it). With transport = multicast every host on the segment can join in: VRRPv3 has no authentication at all, and VRRPv2's auth_pass travels in clear text in every advert, so it stops a misconfigured neighbour, not an attacker. Use unicast unless the network requires multicast, and then keep the segment to the load balancers.";
    VrrpNoAuth = "RMQ109", "VRRPv2 without authentication",
        "With vrrp_version 2, auth_pass (a secret source, like every password) adds keepalived's PASS authentication: the load balancers ignore adverts that do not carry it. It is at most 8 characters and travels in clear text in every advert, so it keeps a misconfigured neighbour (another cluster's keepalived with the same router id) out, not an attacker who can read the segment; the protection against strangers is unicast adverts with check_unicast_src (the default transport), and against address forgery the network itself. VRRPv3 has no authentication in keepalived.";
    NoSshKey = "RMQ108", "Nobody can log into the VMs",
        "On the cloud-init path the VMs' default user gets the keys of ssh_authorized_keys, password login over SSH is disabled and the user's password is locked. Without a key nobody can log in, over SSH or the console, to debug a failed first boot or run rabbitmqctl. On the NixOS path the keys are root's (PermitRootLogin prohibit-password, no password login): the configuration reaches the VMs with nixos-rebuild --target-host root@ADDR, which needs one, unless site.nix adds a key. Give at least one OpenSSH public key (yours, or a bastion's).";
    UpgradeHop = "RMQ110", "A version change skips a supported upgrade hop",
        "RabbitMQ upgrades a running cluster in place only along supported hops (its Version Upgradability table): 3.10 → 3.11 → 3.12 (from 3.11.18) → 3.13, then 3.13 → 4.0, 4.1 or 4.2 (only if Khepri was not enabled on 3.13), 4.0 → 4.1 or 4.2, 4.1 → 4.2, and 4.3 only from 4.2. Every stable feature flag must be enabled before each hop, or the next one fails. `rmqgen plan` takes one hop per change: set rabbitmq.version to the next series on the path, roll it out, enable all feature flags, then take the next.";
    Downgrade = "RMQ111", "RabbitMQ cannot be downgraded in place",
        "A node that ran a newer series has migrated its data and enabled feature flags the older series does not know; it will not start on the older one. Going back means a new cluster of the older series beside this one, with the definitions and messages moved to it (blue-green).";
    ShrinkBrokers = "RMQ112", "Removing brokers weakens the cluster",
        "Quorum queues and Khepri need a majority of their members online. A cluster of 2 needs both (it survives no broker loss), and removing several brokers at once can leave a queue without a majority in between. Remove brokers one at a time, each drained, shrunk and forgotten before the next, and keep at least 3.";
    RoleChange = "RMQ113", "A host changes role",
        "A host's name is its Terraform key, its Erlang node name and the name of its files. A broker cannot turn into a load balancer (or back) in place: remove it in one change and add the new host under another name in the next.";
    BlueGreenClash = "RMQ114", "The green cluster reuses a host identity of the running one",
        "A queue-type change (classic mirrored to quorum, or back) is a blue-green migration: the new spec describes a green cluster that runs beside the blue one until the cut-over, so its hosts need names, addresses, MACs and Proxmox VM ids of their own.";
    ClusterRename = "RMQ115", "The cluster is renamed in place",
        "The cluster name is RabbitMQ's cluster_name and the seed of every host's MAC address and derived Proxmox VM id, so renaming a running cluster changes the identity of every VM at once: Terraform replaces them all (or leaves them with a network configuration that matches no NIC), which is a full outage. Keep the name; a cluster under a new name is a new cluster, built beside the old one (blue-green).";
    TlsCa = "RMQ120", "TLS is on but no CA is given",
        "Every TLS link verifies its peer against a CA bundle: the brokers verify each other (Erlang distribution, mutual TLS) and clients that present a certificate, HAProxy verifies the brokers when it re-encrypts AMQPS. Give tls.ca as {\"from\": \"file\", \"path\": ...}, {\"from\": \"variable\", \"name\": ...} or {\"from\": \"host\", \"path\": ...} (a bundle already on the hosts).";
    TlsInline = "RMQ121", "A certificate or key was written inline",
        "Certificates and private keys are given by reference only: a file Terraform reads ({\"from\": \"file\", \"path\": \"tls/{host}.key\"}), a sensitive Terraform variable ({\"from\": \"variable\", \"name\": ...}) or a path on the hosts ({\"from\": \"host\", \"path\": ...}). A spec is committed to a repository and rendered output is world-readable, so PEM text in it (above all a private key) is refused, and the message never repeats it.";
    TlsSource = "RMQ122", "A certificate or key reference is not usable",
        "A file path (relative to the Terraform root module, or absolute) and a host path (absolute) use letters, digits and . _ - / only, plus {host} in a file path or variable name, which stands for each host's name (one certificate per host). A host path is the same on every host of the role, so it cannot hold {host}. HAProxy loads a load balancer's key from the certificate's path with .key appended (or from the certificate file itself), so a host-path key on the load balancers must be one of those two.";
    TlsNames = "RMQ124", "A certificate does not cover the names clients use",
        "A client verifies that the certificate it gets names the host it connected to: the host's name, its FQDN or its address, and, where the certificate is met on the VIP, the VIP's address or the cluster's name. rmqgen computes these names once in the plan and, where a certificate file is readable when rmqgen renders (a file source, relative to the Terraform root module, the output's terraform/ directory), reads the certificate's subjectAltName and warns about every name it misses. Reissue the certificate with the names the message lists.";
    TlsSwitch = "RMQ125", "TLS is switched on or off on a running cluster",
        "Erlang distribution over TLS and plain distribution do not interoperate: during a rolling restart the restarted brokers could not reach the others, and the cluster would split. Switching tls.inter_node takes every broker down at once (stop all, install the files, start all). A client link (AMQP, management, Prometheus) that switches moves to another port and scheme (amqps://, https://): clients still on the old one are cut off, and HAProxy's reload moves the VIP's port before every broker listens on the new one.";
    TlsNixos = "RMQ123", "TLS is not rendered for NixOS hosts yet",
        "The TLS files reach the hosts through cloud-init's write_files, owned by the service that reads them (rabbitmq, haproxy). The NixOS image writes its secrets as root before those users exist, and rmqgen's NixOS modules do not wire TLS yet. Use provisioning = cloud-init for TLS, or configure TLS in site.nix yourself.";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_rmq_and_three_digits_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for code in Code::ALL {
            let s = code.as_str();
            assert_eq!(s.len(), 6, "{s}");
            assert!(s.starts_with("RMQ"), "{s}");
            assert!(s[3..].bytes().all(|b| b.is_ascii_digit()), "{s}");
            assert_eq!(format!("RMQ{:03}", code.number()), s);
            assert!(seen.insert(code.number()), "{s} is listed twice");
            assert_eq!(Code::parse(s), Some(*code));
        }
        assert_eq!(Code::first(), Code::Syntax);
        assert_eq!(Code::last().number(), *seen.last().unwrap());
    }

    #[test]
    fn codes_sort_by_number() {
        let mut codes = Code::ALL.to_vec();
        codes.sort();
        let numbers: Vec<u16> = codes.iter().map(|c| c.number()).collect();
        let mut sorted = numbers.clone();
        sorted.sort_unstable();
        assert_eq!(numbers, sorted);
        assert!(
            Code::Mtu > Code::Domain,
            "RMQ072 > RMQ071 though listed first"
        );
    }

    #[test]
    fn summary_counts_errors_and_warnings() {
        let mut d = Diagnostics::new();
        assert_eq!(d.summary(), "no problems");
        d.push(Diagnostic::warning(Code::Version, "/a", "w"));
        assert_eq!(d.summary(), "1 warning");
        d.push(Diagnostic::error(Code::Name, "/b", "e"));
        assert_eq!(d.summary(), "1 error, 1 warning");
        d.push(Diagnostic::error(Code::Name, "/c", "e"));
        d.push(Diagnostic::warning(Code::Version, "/d", "w"));
        assert_eq!(d.summary(), "2 errors, 2 warnings");
        assert_eq!((d.error_count(), d.warning_count()), (2, 2));
    }
}
