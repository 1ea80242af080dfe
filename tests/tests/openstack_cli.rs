//! python-openstackclient against `cairn up`'s Keystone v3 (`/identity`):
//! what `openrc` and `clouds.yaml` set up works as written, and the
//! identity commands an operator runs — tokens, catalog, projects, users,
//! roles, application credentials, EC2 credentials — behave as Keystone's;
//! and the volume API (Cinder v3) with its attachments, volume types that
//! choose a replica count, and quotas.

use anyhow::{bail, Context, Result};
use cairn_tests::Cairn;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `openstack ARGS -f json` with `env` (the openrc, or a variation of it)
/// and nothing else of the caller's OS_* environment.
fn openstack(env: &[(String, String)], args: &[&str]) -> Result<Value> {
    let out = openstack_output(env, args, true)?;
    if !out.status.success() {
        bail!(
            "openstack {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "openstack {args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `openstack ARGS` for commands that print nothing on success.
fn openstack_do(env: &[(String, String)], args: &[&str]) -> Result<()> {
    let out = openstack_output(env, args, false)?;
    if !out.status.success() {
        bail!(
            "openstack {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(())
}

fn openstack_output(
    env: &[(String, String)],
    args: &[&str],
    json: bool,
) -> Result<std::process::Output> {
    let mut cmd = Command::new("openstack");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OS_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.args(args);
    if json {
        cmd.args(["-f", "json"]);
    }
    cmd.current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .output()
        .context("running openstack (python-openstackclient)")
}

/// The OS_* variables of the openrc.
fn openrc_env(cairn: &Cairn) -> Vec<(String, String)> {
    cairn
        .openrc
        .iter()
        .filter(|(k, _)| k.starts_with("OS_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Only `clouds.yaml`, through OS_CLIENT_CONFIG_FILE and `--os-cloud`.
fn cloud_env(cairn: &Cairn) -> Vec<(String, String)> {
    vec![(
        "OS_CLIENT_CONFIG_FILE".into(),
        cairn.openrc["OS_CLIENT_CONFIG_FILE"].clone(),
    )]
}

/// An environment that authenticates with an application credential.
fn app_cred_env(cairn: &Cairn, id: &str, secret: &str) -> Vec<(String, String)> {
    vec![
        ("OS_AUTH_TYPE".into(), "v3applicationcredential".into()),
        ("OS_AUTH_URL".into(), cairn.openrc["OS_AUTH_URL"].clone()),
        ("OS_APPLICATION_CREDENTIAL_ID".into(), id.into()),
        ("OS_APPLICATION_CREDENTIAL_SECRET".into(), secret.into()),
        ("OS_INTERFACE".into(), "public".into()),
    ]
}

/// Field `k` of an object, whatever the case of its name (the CLI prints
/// `id` for some commands and `ID` for others).
fn field<'a>(v: &'a Value, k: &str) -> &'a str {
    v.as_object()
        .and_then(|o| o.iter().find(|(name, _)| name.eq_ignore_ascii_case(k)))
        .and_then(|(_, v)| v.as_str())
        .unwrap_or_default()
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|r| field(r, key).to_owned()).collect())
        .unwrap_or_default()
}

/// `swift ARGS` with Keystone v3 auth from `env` (no ST_* variables).
fn swift_v3(env: &[(String, String)], args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("swift");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OS_") || k.starts_with("ST_")) {
        cmd.env_remove(k);
    }
    let out = cmd
        .current_dir(std::env::temp_dir())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("OS_IDENTITY_API_VERSION", "3")
        .args(["--auth-version", "3"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running swift")?;
    if !out.status.success() {
        bail!(
            "swift {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The object store with Keystone: `openstack container/object`, `swift`
/// with v3 auth, S3 with an EC2 credential, all on the project's account
/// `AUTH_<project_id>`; one project cannot read another's.
fn objects_with_keystone(
    cairn: &Cairn,
    demo: &[(String, String)],
    alice: &[(String, String)],
    ec2: &Value,
) -> Result<()> {
    // The CLIs run in the temp directory and name objects by the relative
    // path they upload.
    let tmp = tempfile::tempdir()?;
    std::fs::write(tmp.path().join("hello.txt"), b"hello from keystone\n")?;
    let rel = tmp
        .path()
        .join("hello.txt")
        .strip_prefix(std::env::temp_dir())?
        .to_str()
        .context("utf-8 path")?
        .to_owned();
    let file_arg = rel.as_str();
    openstack(alice, &["container", "create", "reports"])?;
    let created = openstack(alice, &["object", "create", "reports", file_arg])?;
    assert!(created.to_string().contains("hello.txt"), "{created}");
    let objects = openstack(alice, &["object", "list", "reports"])?;
    assert_eq!(names(&objects, "Name").len(), 1, "{objects}");
    let shown = openstack(alice, &["object", "show", "reports", file_arg])?;
    assert_eq!(field(&shown, "content-length"), "20", "{shown}");
    let containers = openstack(alice, &["container", "list"])?;
    assert_eq!(names(&containers, "Name"), ["reports"]);

    // swift with v3 auth sees the same account; download is byte-exact.
    let stat = swift_v3(alice, &["stat"])?;
    let project = field(&openstack(alice, &["token", "issue"])?, "project_id").to_owned();
    assert!(stat.contains(&format!("AUTH_{project}")), "{stat}");
    swift_v3(alice, &["download", "reports", file_arg, "-o", "-"])
        .map(|body| assert_eq!(body, "hello from keystone\n"))?;

    // S3 with the EC2 credential: the container is a bucket of the project.
    let aws_as = |access: &str, secret: &str, args: &[&str]| -> Result<Output> {
        Ok(Command::new("aws")
            .env("AWS_ACCESS_KEY_ID", access)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_DEFAULT_REGION", &cairn.openrc["AWS_DEFAULT_REGION"])
            .env("AWS_ENDPOINT_URL", &cairn.openrc["AWS_ENDPOINT_URL"])
            .args(args)
            .stdin(Stdio::null())
            .output()?)
    };
    let aws = |args: &[&str]| -> Result<String> {
        let out = aws_as(field(ec2, "access"), field(ec2, "secret"), args)?;
        anyhow::ensure!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    assert!(aws(&["s3", "ls", "--recursive", "s3://reports/"])?.contains("hello.txt"));
    aws(&[
        "s3",
        "cp",
        &std::env::temp_dir().join(&rel).to_string_lossy(),
        "s3://reports/via-s3.txt",
    ])?;
    let objects = openstack(alice, &["object", "list", "reports"])?;
    assert!(names(&objects, "Name").contains(&"via-s3.txt".to_owned()));

    // Over S3, demo's keys name demo's own buckets: alice's bucket is
    // neither listed nor readable nor writable with them, and alice's
    // EC2 keys do not list demo's buckets.
    let (demo_ak, demo_sk) = (
        &cairn.openrc["AWS_ACCESS_KEY_ID"],
        &cairn.openrc["AWS_SECRET_ACCESS_KEY"],
    );
    let demo_buckets = aws_as(demo_ak, demo_sk, &["s3api", "list-buckets"])?;
    let listed = String::from_utf8_lossy(&demo_buckets.stdout);
    assert!(
        demo_buckets.status.success() && !listed.contains("\"reports\""),
        "{listed}"
    );
    for args in [
        vec!["s3api", "head-bucket", "--bucket", "reports"],
        vec![
            "s3api",
            "get-object",
            "--bucket",
            "reports",
            "--key",
            &rel,
            "/dev/null",
        ],
        vec![
            "s3api",
            "put-object",
            "--bucket",
            "reports",
            "--key",
            "stolen",
        ],
    ] {
        let out = aws_as(demo_ak, demo_sk, &args)?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && (err.contains("404") || err.contains("NoSuchBucket")),
            "demo's keys reached alice's bucket with {args:?}: {err}"
        );
    }
    let made = aws_as(demo_ak, demo_sk, &["s3", "mb", "s3://demo-only"])?;
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(!aws(&["s3", "ls"])?.contains("demo-only"));
    assert!(aws(&["s3", "ls", "s3://demo-only"]).is_err());

    // Isolation: demo (another project) cannot read alice's account, and
    // alice cannot write demo's.
    let demo_token = field(&openstack(demo, &["token", "issue"])?, "id").to_owned();
    let alice_token = field(&openstack(alice, &["token", "issue"])?, "id").to_owned();
    let demo_project = field(&openstack(demo, &["token", "issue"])?, "project_id").to_owned();
    let base = format!("http://{}/v1", cairn.listen);
    let status = |r: Result<ureq::Response, ureq::Error>| match r {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{e}"),
    };
    let read_other = ureq::get(&format!("{base}/AUTH_{project}/reports/{rel}"))
        .set("X-Auth-Token", &demo_token)
        .call();
    assert_eq!(status(read_other), 403);
    let write_other = ureq::put(&format!("{base}/AUTH_{demo_project}/stolen"))
        .set("X-Auth-Token", &alice_token)
        .call();
    assert_eq!(status(write_other), 403);
    let forged = ureq::get(&format!("{base}/AUTH_{project}"))
        .set("X-Auth-Token", "gAAAAAforged-token")
        .call();
    assert_eq!(status(forged), 401);
    Ok(())
}

/// A user with only the `reader` role on team-a lists its containers and
/// objects and reads them, and is refused every write (Swift and S3).
fn a_reader_reads_and_writes_nothing(
    cairn: &Cairn,
    admin_cloud: &[(String, String)],
    alice: &[(String, String)],
) -> Result<()> {
    let user = ["user", "create", "--password", "viewer-pw", "viewer"];
    openstack(admin_cloud, &user)?;
    let role = [
        "role",
        "add",
        "--project",
        "team-a",
        "--user",
        "viewer",
        "reader",
    ];
    openstack_do(admin_cloud, &role)?;
    let viewer: Vec<(String, String)> = alice
        .iter()
        .map(|(k, v)| match k.as_str() {
            "OS_USERNAME" => (k.clone(), "viewer".to_owned()),
            "OS_PASSWORD" => (k.clone(), "viewer-pw".to_owned()),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    let containers = openstack(&viewer, &["container", "list"])?;
    assert_eq!(names(&containers, "Name"), ["reports"]);
    let objects = openstack(&viewer, &["object", "list", "reports"])?;
    assert!(names(&objects, "Name").contains(&"via-s3.txt".to_owned()));

    let token = field(&openstack(&viewer, &["token", "issue"])?, "id").to_owned();
    let project = field(&openstack(&viewer, &["token", "issue"])?, "project_id").to_owned();
    let base = format!("http://{}/v1/AUTH_{project}", cairn.listen);
    let status = |r: Result<ureq::Response, ureq::Error>| match r {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{e}"),
    };
    let read = ureq::get(&format!("{base}/reports/via-s3.txt"))
        .set("X-Auth-Token", &token)
        .call();
    assert_eq!(status(read), 200);
    for (method, path) in [
        ("PUT", "/reports/new.txt"),
        ("DELETE", "/reports/via-s3.txt"),
        ("POST", "/reports"),
        ("PUT", "/another"),
        ("POST", ""),
    ] {
        let r = ureq::request(method, &format!("{base}{path}"))
            .set("X-Auth-Token", &token)
            .call();
        assert_eq!(status(r), 403, "{method} {path}");
    }
    let ec2 = openstack(&viewer, &["ec2", "credentials", "create"])?;
    let s3 = |args: &[&str]| {
        Command::new("aws")
            .env("AWS_ACCESS_KEY_ID", field(&ec2, "access"))
            .env("AWS_SECRET_ACCESS_KEY", field(&ec2, "secret"))
            .env("AWS_DEFAULT_REGION", &cairn.openrc["AWS_DEFAULT_REGION"])
            .env("AWS_ENDPOINT_URL", &cairn.openrc["AWS_ENDPOINT_URL"])
            .args(args)
            .stdin(Stdio::null())
            .output()
    };
    let listed = s3(&["s3", "ls", "s3://reports/"])?;
    assert!(listed.status.success(), "{listed:?}");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("via-s3.txt"));
    let buckets = s3(&["s3", "ls"])?;
    assert!(
        String::from_utf8_lossy(&buckets.stdout).contains("reports"),
        "{buckets:?}"
    );
    let removed = s3(&["s3", "rm", "s3://reports/via-s3.txt"])?;
    assert!(!removed.status.success(), "a reader deleted an object");
    assert!(
        String::from_utf8_lossy(&removed.stderr).contains("AccessDenied"),
        "{removed:?}"
    );
    Ok(())
}

#[test]
fn openstack_cli_drives_identity() -> Result<()> {
    let cairn = Cairn::start()?;
    let demo = openrc_env(&cairn);
    let admin_cloud = {
        let mut e = cloud_env(&cairn);
        e.push(("OS_CLOUD".into(), "cairn-admin".into()));
        e
    };

    // The openrc alone: a project-scoped token and a catalog that names
    // every service, the object store at the project's account.
    let token = openstack(&demo, &["token", "issue"])?;
    let project = field(&token, "project_id").to_owned();
    assert!(!field(&token, "id").is_empty(), "{token}");
    let catalog = openstack(&demo, &["catalog", "list"])?;
    let types = names(&catalog, "Type");
    for t in ["identity", "object-store", "volumev3", "s3"] {
        assert!(types.iter().any(|x| x == t), "no {t} in {catalog}");
    }
    let swift = openstack(&demo, &["catalog", "show", "object-store"])?;
    assert!(
        swift.to_string().contains(&format!("AUTH_{project}")),
        "{swift}"
    );

    // clouds.yaml's admin: projects, users and roles.
    let projects = openstack(&admin_cloud, &["project", "list"])?;
    assert!(names(&projects, "Name").contains(&"demo".to_owned()));
    openstack(
        &admin_cloud,
        &["project", "create", "--description", "team a", "team-a"],
    )?;
    let dup = openstack_output(&admin_cloud, &["project", "create", "team-a"], true)?;
    assert!(!dup.status.success(), "a second team-a was created");
    openstack(
        &admin_cloud,
        &[
            "user",
            "create",
            "--password",
            "alice-pw-1",
            "--project",
            "team-a",
            "alice",
        ],
    )?;
    openstack_do(
        &admin_cloud,
        &[
            "role",
            "add",
            "--project",
            "team-a",
            "--user",
            "alice",
            "member",
        ],
    )?;
    let assignments = openstack(
        &admin_cloud,
        &[
            "role",
            "assignment",
            "list",
            "--user",
            "alice",
            "--project",
            "team-a",
            "--names",
        ],
    )?;
    assert!(assignments.to_string().contains("member"), "{assignments}");

    // Alice signs in with her password; as a member she may not create users.
    let alice = vec![
        (
            "OS_AUTH_URL".to_owned(),
            cairn.openrc["OS_AUTH_URL"].clone(),
        ),
        ("OS_USERNAME".to_owned(), "alice".to_owned()),
        ("OS_PASSWORD".to_owned(), "alice-pw-1".to_owned()),
        ("OS_PROJECT_NAME".to_owned(), "team-a".to_owned()),
        ("OS_USER_DOMAIN_NAME".to_owned(), "Default".to_owned()),
        ("OS_PROJECT_DOMAIN_NAME".to_owned(), "Default".to_owned()),
        ("OS_INTERFACE".to_owned(), "public".to_owned()),
    ];
    let t = openstack(&alice, &["token", "issue"])?;
    assert_ne!(field(&t, "project_id"), project);
    let denied = openstack_output(
        &alice,
        &["user", "create", "--password", "x", "mallory"],
        true,
    )?;
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );

    // Her application credential authenticates on its own.
    let cred = openstack(&alice, &["application", "credential", "create", "alice-ci"])?;
    let (id, secret) = (field(&cred, "id"), field(&cred, "secret"));
    assert!(!id.is_empty() && !secret.is_empty(), "{cred}");
    let via_cred = openstack(&app_cred_env(&cairn, id, secret), &["token", "issue"])?;
    assert_eq!(field(&via_cred, "project_id"), field(&t, "project_id"));
    let wrong = openstack_output(
        &app_cred_env(&cairn, id, "not-the-secret"),
        &["token", "issue"],
        true,
    )?;
    assert!(!wrong.status.success());

    // EC2 credentials for the S3 API.
    let ec2 = openstack(&alice, &["ec2", "credentials", "create"])?;
    assert!(!field(&ec2, "access").is_empty(), "{ec2}");
    let listed = openstack(&alice, &["ec2", "credentials", "list"])?;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");

    objects_with_keystone(&cairn, &demo, &alice, &ec2)?;
    a_reader_reads_and_writes_nothing(&cairn, &admin_cloud, &alice)?;

    // A password change voids her tokens; disabling her refuses new ones.
    openstack_do(
        &admin_cloud,
        &["user", "set", "--password", "alice-pw-2", "alice"],
    )?;
    let old = openstack_output(&alice, &["token", "issue"], true)?;
    assert!(!old.status.success(), "the old password still works");
    let mut alice2 = alice.clone();
    alice2[2].1 = "alice-pw-2".into();
    openstack(&alice2, &["token", "issue"])?;
    openstack_do(&admin_cloud, &["user", "set", "--disable", "alice"])?;
    let disabled = openstack_output(&alice2, &["token", "issue"], true)?;
    assert!(!disabled.status.success(), "a disabled user got a token");
    let via_cred = openstack_output(&app_cred_env(&cairn, id, secret), &["token", "issue"], true)?;
    assert!(
        !via_cred.status.success(),
        "a disabled user's credential works"
    );

    // A restart keeps every identity record (they are in Raft).
    let mut cairn = cairn;
    cairn.stop()?;
    cairn.spawn()?;
    let shown = openstack(&admin_cloud, &["user", "show", "alice"])?;
    assert_eq!(shown["enabled"], Value::Bool(false), "{shown}");
    assert_eq!(
        openstack(&admin_cloud, &["project", "show", "team-a"])?["description"],
        "team a"
    );
    Ok(())
}

/// `openstack ARGS` that must fail; its stderr.
fn openstack_fails(env: &[(String, String)], args: &[&str]) -> Result<String> {
    let out = openstack_output(env, args, false)?;
    anyhow::ensure!(!out.status.success(), "openstack {args:?} succeeded");
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}

// Cinder v3 through the CLI: volumes, extend, snapshots, a clone from a
// snapshot, the dependency rules, project isolation, and a volume that is
// a real disk over NBD under its export name.
/// The attachments API as a hypervisor's volume driver uses it
/// (openstacksdk, `tests/openstack/attach_flow.py`): statuses move
/// `attaching` → `in-use` → `available`, a second attachment and a delete
/// of the attached volume are refused, and the connection info handed out
/// works with real initiators: libiscsi for the iSCSI target, nbdinfo for
/// the NBD export.
fn attach_like_a_hypervisor(demo: &[(String, String)], id: &str) -> Result<()> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("openstack/attach_flow.py");
    let mut cmd = Command::new("python3");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OS_")) {
        cmd.env_remove(k);
    }
    let out = cmd
        .envs(demo.iter().map(|(k, v)| (k, v)))
        .arg(&script)
        .arg(id)
        .stdin(Stdio::null())
        .output()
        .context("running attach_flow.py")?;
    anyhow::ensure!(
        out.status.success(),
        "attach_flow.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let flow: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(flow["created_status"], "attaching", "{flow}");
    assert_eq!(flow["while_attaching"], "attaching", "{flow}");
    assert_eq!(flow["after_complete"], "in-use", "{flow}");
    assert_eq!(
        flow["volume_attachments"][0]["attachment_id"], flow["attachment_id"],
        "{flow}"
    );
    assert_eq!(flow["listed"][0], flow["attachment_id"], "{flow}");
    assert_eq!(flow["second"], 400, "{flow}");
    assert_eq!(flow["delete_attached"], 400, "{flow}");
    assert_eq!(flow["after_detach"], "available", "{flow}");
    assert_eq!(flow["at_end"], "available", "{flow}");

    let iscsi = &flow["iscsi"];
    assert_eq!(iscsi["driver_volume_type"], "iscsi", "{flow}");
    let d = &iscsi["data"];
    let url = format!(
        "iscsi://{}/{}/{}",
        field(d, "target_portal"),
        field(d, "target_iqn"),
        d["target_lun"]
    );
    let capacity = cairn_tests::run_tool("iscsi-readcapacity16", &[&url])?;
    // 2 GiB in 512-byte blocks: the last LBA is 4194303.
    assert!(capacity.contains("4194303"), "{capacity}");
    let nbd = &flow["nbd"];
    assert_eq!(nbd["driver_volume_type"], "nbd", "{flow}");
    let size = cairn_tests::run_tool("nbdinfo", &["--size", field(&nbd["data"], "uri")])?;
    assert_eq!(size.trim(), "2147483648");
    Ok(())
}

#[test]
fn openstack_cli_drives_volumes() -> Result<()> {
    let cairn = Cairn::start()?;
    let demo = openrc_env(&cairn);
    let admin = {
        let mut e = cloud_env(&cairn);
        e.push(("OS_CLOUD".into(), "cairn-admin".into()));
        e
    };

    let vol = openstack(&demo, &["volume", "create", "--size", "1", "vol1"])?;
    let id = field(&vol, "id").to_owned();
    assert_eq!(vol["size"], 1, "{vol}");
    let shown = openstack(&demo, &["volume", "show", "vol1"])?;
    assert_eq!(field(&shown, "status"), "available", "{shown}");
    assert_eq!(field(&shown, "id"), id);
    let listed = openstack(&demo, &["volume", "list"])?;
    assert_eq!(names(&listed, "Name"), ["vol1"], "{listed}");

    // Rename, describe and grow it.
    openstack_do(
        &demo,
        &[
            "volume",
            "set",
            "--name",
            "data",
            "--description",
            "the data disk",
            "vol1",
        ],
    )?;
    openstack_do(&demo, &["volume", "set", "--size", "2", "data"])?;
    let shown = openstack(&demo, &["volume", "show", "data"])?;
    assert_eq!(shown["size"], 2, "{shown}");
    assert_eq!(field(&shown, "description"), "the data disk");

    // It is a disk: write through NBD under its export name, read back.
    let url = cairn.nbd_url(&format!("volume-{id}"));
    cairn_tests::run_tool(
        "qemu-io",
        &["-f", "raw", "-c", "write -P 0xab 1M 64k", &url],
    )?;
    let read = cairn_tests::run_tool("qemu-io", &["-f", "raw", "-c", "read -P 0xab 1M 64k", &url])?;
    assert!(!read.contains("Pattern verification failed"), "{read}");

    attach_like_a_hypervisor(&demo, &id)?;

    // A snapshot, a clone of it that keeps the bytes, and the rules:
    // no deleting a snapshot a volume was cloned from, nor a volume with
    // snapshots.
    let snap = openstack(
        &demo,
        &["volume", "snapshot", "create", "--volume", "data", "snap1"],
    )?;
    let snaps = openstack(&demo, &["volume", "snapshot", "list"])?;
    assert_eq!(names(&snaps, "Name"), ["snap1"], "{snaps}");
    let clone = openstack(
        &demo,
        &[
            "volume",
            "create",
            "--snapshot",
            "snap1",
            "--size",
            "2",
            "clone1",
        ],
    )?;
    let clone_url = cairn.nbd_url(&format!("volume-{}", field(&clone, "id")));
    let read = cairn_tests::run_tool(
        "qemu-io",
        &["-f", "raw", "-c", "read -P 0xab 1M 64k", &clone_url],
    )?;
    assert!(!read.contains("Pattern verification failed"), "{read}");
    let refused = openstack_fails(&demo, &["volume", "snapshot", "delete", "snap1"])?;
    assert!(
        refused.contains("400") || refused.to_lowercase().contains("clone"),
        "{refused}"
    );
    openstack_fails(&demo, &["volume", "delete", "data"])?;

    // Another project sees none of it and cannot touch it.
    let theirs = openstack(&admin, &["volume", "list"])?;
    assert!(names(&theirs, "Name").is_empty(), "{theirs}");
    let err = openstack_fails(&admin, &["volume", "show", &id])?;
    assert!(
        err.to_lowercase().contains("no volume") || err.contains("404"),
        "{err}"
    );

    openstack_do(&demo, &["volume", "delete", "clone1"])?;
    openstack_do(&demo, &["volume", "snapshot", "delete", field(&snap, "id")])?;
    openstack_do(&demo, &["volume", "delete", "data"])?;
    let listed = openstack(&demo, &["volume", "list"])?;
    assert!(names(&listed, "Name").is_empty(), "{listed}");
    Ok(())
}

/// The devices under `data` holding an extent of the block volume whose
/// id, without dashes, is `hex` (a device keeps a volume's extents in
/// `extents/<hex>/`, as files `<index:016x>.<generation:08x>`, beside the
/// volume's fence file, which every device has).
fn devices_with_extents(data: &Path, hex: &str) -> Result<usize> {
    let is_extent = |name: &std::ffi::OsStr| {
        let name = name.to_string_lossy();
        name.len() == 25 && name.as_bytes()[16] == b'.'
    };
    let mut found = 0;
    let mut dirs = vec![data.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if entry.file_name() == "extents" {
                let held = std::fs::read_dir(path.join(hex))
                    .map(|files| files.flatten().any(|f| is_extent(&f.file_name())))
                    .unwrap_or(false);
                found += usize::from(held);
            } else {
                dirs.push(path);
            }
        }
    }
    Ok(found)
}

/// The `Value` of row `name` in a `Name`/`Value` (or `Resource`/`Limit`)
/// listing.
fn row<'a>(rows: &'a Value, key: &str, name: &str, value: &str) -> &'a Value {
    rows.as_array()
        .and_then(|a| a.iter().find(|r| field(r, key) == name))
        .and_then(|r| r.get(value))
        .unwrap_or(&Value::Null)
}

// Volume types and quotas through the CLI: an admin makes a type whose
// volumes keep two replicas; a member sees it, cannot make one, and
// creates a volume of it whose blocks land on exactly two devices; the
// admin's quota on the member's project refuses its third volume with
// Cinder's over-limit error, and `quota show` and `limits show --absolute`
// report the limit and the usage.
#[test]
fn openstack_cli_drives_volume_types_and_quotas() -> Result<()> {
    let cairn = Cairn::start()?;
    let demo = openrc_env(&cairn);
    let admin = {
        let mut e = cloud_env(&cairn);
        e.push(("OS_CLOUD".into(), "cairn-admin".into()));
        e
    };

    let two = openstack(
        &admin,
        &[
            "volume",
            "type",
            "create",
            "--property",
            "replicas=2",
            "two",
        ],
    )?;
    assert_eq!(two["properties"]["replicas"], "2", "{two}");
    let listed = openstack(&demo, &["volume", "type", "list"])?;
    let mut types = names(&listed, "Name");
    types.sort();
    assert_eq!(types, ["__DEFAULT__", "two"], "{listed}");
    let shown = openstack(&demo, &["volume", "type", "show", "two"])?;
    assert_eq!(shown["properties"]["replicas"], "2", "{shown}");
    assert_eq!(field(&shown, "id"), field(&two, "id"));
    let refused = openstack_fails(&demo, &["volume", "type", "create", "mine"])?;
    assert!(
        refused.contains("Policy doesn't allow volume_extension:type_create"),
        "{refused}"
    );
    // A count the ring cannot keep is refused (the CLI has made the type
    // before it sets the property; it stays without one).
    let refused = openstack_fails(
        &admin,
        &[
            "volume",
            "type",
            "create",
            "--property",
            "replicas=7",
            "seven",
        ],
    )?;
    assert!(refused.contains("from 1 to 3"), "{refused}");
    openstack_do(&admin, &["volume", "type", "delete", "seven"])?;

    // A volume of the type keeps two copies of what is written to it.
    let vol = openstack(
        &demo,
        &["volume", "create", "--type", "two", "--size", "1", "v"],
    )?;
    let shown = openstack(&demo, &["volume", "show", "v"])?;
    assert_eq!(field(&shown, "type"), "two", "{shown}");
    let export = format!("volume-{}", field(&vol, "id"));
    cairn_tests::run_tool(
        "qemu-io",
        &[
            "-f",
            "raw",
            "-c",
            "write -P 0x5a 0 64k",
            &cairn.nbd_url(&export),
        ],
    )?;
    let block = cairn.volume(&["show", &export])?;
    let block_id = block
        .lines()
        .find_map(|l| l.strip_prefix("id"))
        .map(|id| id.trim().replace('-', ""))
        .context("no id in cairn volume show")?;
    assert_eq!(devices_with_extents(&cairn.data, &block_id)?, 2, "{block}");
    let refused = openstack_fails(&admin, &["volume", "type", "delete", "two"])?;
    assert!(refused.contains("still in use"), "{refused}");

    // The admin caps demo at two volumes: the third is over the limit.
    let project = field(&openstack(&admin, &["project", "show", "demo"])?, "id").to_owned();
    let refused = openstack_fails(&demo, &["quota", "set", "--volumes", "5", &project])?;
    assert!(refused.contains("quotas:update"), "{refused}");
    openstack_do(&admin, &["quota", "set", "--volumes", "2", "demo"])?;
    openstack(&demo, &["volume", "create", "--size", "1", "w"])?;
    let refused = openstack_fails(&demo, &["volume", "create", "--size", "1", "x"])?;
    assert!(
        refused.contains(
            "VolumeLimitExceeded: Maximum number of volumes allowed (2) exceeded for quota 'volumes'."
        ),
        "{refused}"
    );
    // `quota show` without `--volume` asks compute too, which the
    // catalog has not: the CLI gives up before it asks anyone.
    let quota = openstack(&admin, &["quota", "show", "--volume", "demo"])?;
    assert_eq!(row(&quota, "Resource", "volumes", "Limit"), 2, "{quota}");
    assert_eq!(
        row(&quota, "Resource", "gigabytes", "Limit"),
        1000,
        "{quota}"
    );
    let usage = openstack(&demo, &["quota", "show", "--volume", "--usage"])?;
    assert_eq!(row(&usage, "Resource", "volumes", "In Use"), 2, "{usage}");
    // The CLI names the absolute limits as the SDK does (snake case).
    let limits = openstack(&demo, &["limits", "show", "--absolute"])?;
    assert_eq!(
        row(&limits, "Name", "max_total_volumes", "Value"),
        2,
        "{limits}"
    );
    assert_eq!(
        row(&limits, "Name", "total_volumes_used", "Value"),
        2,
        "{limits}"
    );
    assert_eq!(
        row(&limits, "Name", "total_gigabytes_used", "Value"),
        2,
        "{limits}"
    );

    // Back to the defaults, the third volume fits.
    openstack_do(&admin, &["quota", "delete", "--volume", "demo"])?;
    openstack(&demo, &["volume", "create", "--size", "1", "x"])?;
    for v in ["v", "w", "x"] {
        openstack_do(&demo, &["volume", "delete", v])?;
    }
    openstack_do(&admin, &["volume", "type", "delete", "two"])?;
    Ok(())
}
