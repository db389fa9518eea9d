//! The `/etc/hosts` fragment every host gets.

use serde::Serialize;

use super::render_template;
use crate::bundle::{Artifact, Bundle, Install};
use crate::error::Error;
use crate::plan::{paths, Plan};

#[derive(Serialize)]
struct Ctx<'a> {
    plan: &'a Plan,
}

pub(super) fn render(plan: &Plan, bundle: &mut Bundle) -> Result<(), Error> {
    let text = render_template("etc-hosts", Ctx { plan })?;
    let install = Install {
        append: true,
        ..super::root_file(
            plan.hosts.iter().map(|h| h.name.clone()).collect(),
            paths::ETC_HOSTS,
            0o644,
        )
    };
    bundle.insert("hosts/etc-hosts", Artifact::file(text).installed(install));
    Ok(())
}
