//! The internals rmqgen's integration tests (tests/lib.rs) read, and only
//! with the `testing` feature, which the crate's dev-dependency on itself
//! turns on for tests, examples and benches. Not part of the API: no
//! stability promise, hidden from the docs. A program embedding rmqgen
//! uses the crate root ([`crate::compile`], [`crate::render()`]).
//!
//! The modules mirror the crate's private ones, so a test names an item by
//! where it lives.

pub use crate::render::{deliver, shell_quote, Roles};
/// The role files and the delivery of a plan: the snapshot tests render a
/// bundle from role files of their own (`deliver`), the lab quotes shell
/// words as rmqgen does.
pub use crate::roles::RoleFile;

/// cloud-init: the files its user-data writes on a host, which the lab
/// installs and the injection, secrets and schema tests read back.
pub mod cloud_init {
    pub use crate::render::cloud_init::{
        host_files, Content, HostFile, APT_PREFERENCES, POLICY_RC_D,
    };
}

/// NixOS: a host's module as a value, which the tests evaluate with Nix
/// and compare with cloud-init's files.
pub mod nixos {
    pub use crate::render::nixos::{host_module, image_module, MODULES};
}

/// The Nix value model and string writer, and texts that try to break out
/// of a Nix string.
pub mod nix {
    pub use crate::render::nix::{strings, AttrPath, Entry, Value};
    pub use crate::render::nix_hostile::HOSTILE;
}

/// The rollout scripts' common functions (templates/rollout-lib.sh).
pub use crate::rollout::LIB as ROLLOUT_LIB;

/// The rollout of OLD → NEW with every role file's contents replaced by
/// `contents(file)`, as the snapshot tests show it.
pub fn rollout_with(
    old: &crate::Spec,
    new: &crate::Spec,
    contents: impl Fn(&RoleFile) -> String,
) -> Result<crate::Rollout, crate::RolloutError> {
    crate::Compared::of(old, new)?.rollout(contents)
}
