//! `keepalived.conf` per load balancer, the HAProxy check script and the
//! keepalived.service drop-in.

use serde::Serialize;

use super::{hosts_with, render_template, root_file};
use crate::bundle::{Artifact, Bundle};
use crate::error::Error;
use crate::plan::{paths, HaProxyPlan, KeepalivedPlan, LoadBalancer, Plan, Role};

#[derive(Serialize)]
struct Ctx<'a> {
    plan: &'a Plan,
    k: &'a KeepalivedPlan,
    h: &'a HaProxyPlan,
    lb: Option<&'a LoadBalancer>,
    script_user: &'static str,
    check_script: &'static str,
    sysusers_path: &'static str,
}

pub(super) fn render(plan: &Plan, bundle: &mut Bundle) -> Result<(), Error> {
    let ctx = |lb| Ctx {
        plan,
        k: &plan.keepalived,
        h: &plan.haproxy,
        lb,
        script_user: paths::SCRIPT_USER,
        check_script: paths::CHECK_SCRIPT,
        sysusers_path: paths::KEEPALIVED_SYSUSERS,
    };
    for lb in &plan.load_balancers {
        let text = render_template("keepalived.conf", ctx(Some(lb)))?;
        let install = root_file(vec![lb.name.clone()], paths::KEEPALIVED_CONF, 0o644);
        bundle.insert(
            format!("keepalived/{}/keepalived.conf", lb.name),
            Artifact::file(text).installed(install),
        );
    }
    let lbs = hosts_with(plan, Role::LoadBalancer);
    // keepalived's script security wants the script and every directory
    // above it owned by root and not writable by others.
    let script = render_template("check-haproxy.sh", ctx(None))?;
    bundle.insert(
        "keepalived/check-haproxy.sh",
        Artifact::file(script).executable().installed(root_file(
            lbs.clone(),
            paths::CHECK_SCRIPT,
            0o755,
        )),
    );
    let sysusers = render_template("keepalived-sysusers.conf", ctx(None))?;
    bundle.insert(
        "keepalived/sysusers.conf",
        Artifact::file(sysusers).installed(root_file(
            lbs.clone(),
            paths::KEEPALIVED_SYSUSERS,
            0o644,
        )),
    );
    let dropin = render_template("keepalived-dropin.conf", ctx(None))?;
    bundle.insert(
        "keepalived/keepalived.service.d/rmqgen.conf",
        Artifact::file(dropin).installed(root_file(lbs, paths::KEEPALIVED_DROPIN, 0o644)),
    );
    Ok(())
}
