//! `terraform apply` of the rendered module against a real libvirt (run with
//! `cargo test --test integration libvirt_apply:: -- --ignored --nocapture`, as root; the
//! `libvirt` stage of scripts/test-all.sh installs the tools first).
//!
//! scripts/libvirt-apply.sh does the work: a Debian image built offline
//! (scripts/vm-image.sh), libvirtd started for the run, a host bridge and
//! a storage pool, the reference spec moved onto that bridge with
//! `domain_type = "qemu"` (TCG), `terraform apply` of the five VMs, the
//! cluster formed and a message round trip through the VIP, one failover
//! (HAProxy stopped on the VIP holder), `terraform destroy` and a check
//! that nothing is left. This test runs it with this build's binary and
//! checks that every figure it reports was measured.

use std::path::Path;
use std::process::{Command, Stdio};

const FIGURES: [&str; 6] = [
    "image_s",
    "apply_s",
    "boot_to_formed_s",
    "failover_vip_s",
    "failover_amqp_s",
    "destroy_s",
];

#[test]
#[ignore = "boots five VMs under libvirt (root, minutes): scripts/test-all.sh libvirt"]
fn five_vm_apply_form_failover_destroy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("scripts/libvirt-apply.sh"))
        .arg(root.join("examples/five-vm.json"))
        .env("RMQGEN_BIN", env!("CARGO_BIN_EXE_rmqgen"))
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/libvirt-apply.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    assert!(
        out.status.success(),
        "scripts/libvirt-apply.sh failed ({})",
        out.status
    );
    for name in FIGURES {
        let value = stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("figure {name}=")))
            .unwrap_or_else(|| panic!("no figure {name} in the output"));
        let seconds: f64 = value
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("figure {name}={value}: {e}"));
        assert!(seconds >= 0.0, "figure {name}={seconds} is not a duration");
    }
}
