//! `miwa serve --simulate`: the simulated OpenSIPS proxy's modules on every transport,
//! driven by `opensips-cli` over the FIFO and HTTP. The node is labelled as simulated in
//! `version`, `ps` and the HTML page. Its registrations are coherent with its statistics
//! and events, which reach real subscribers. The same seed gives the same proxy.

use miwa_tests::{workspace, Daemon};
use serde_json::{json, Value};
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

fn simulated(seed: &str) -> Daemon {
    Daemon::start_with_args("", &["--simulate", "--seed", seed])
        .expect("the simulated proxy starts")
}

/// `opensips-cli -x mi <args>` over the daemon's FIFO, its output parsed.
fn opensips_cli(daemon: &Daemon, args: &[&str]) -> Value {
    let tool = workspace().join("tests/.venv/bin/opensips-cli");
    assert!(
        tool.exists(),
        "`make test` installs opensips-cli into tests/.venv"
    );
    let output = Command::new(tool)
        .arg("-o")
        .arg(format!("fifo_file={}", daemon.fifo.display()))
        .arg("-o")
        .arg(format!("fifo_reply_dir={}/", daemon.reply_dir().display()))
        .args(["-x", "mi"])
        .args(args)
        .env("HOME", daemon.dir.path())
        .output()
        .expect("opensips-cli runs");
    assert!(
        output.status.success(),
        "opensips-cli {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("opensips-cli prints JSON")
}

/// A UDP socket subscribed to events at a daemon, as a real event consumer is.
struct Listener(UdpSocket);

impl Listener {
    /// Binds a socket and subscribes it to each of `events` for a minute.
    fn subscribe(daemon: &Daemon, events: &[&str]) -> Listener {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let address = format!("udp:{}", socket.local_addr().unwrap());
        for event in events {
            assert_eq!(
                daemon.result("event_subscribe", json!([event, address, 60])),
                "OK"
            );
        }
        Listener(socket)
    }

    /// The next notification, parsed; `what` names it if none arrives within 5 s.
    fn next(&self, what: &str) -> Value {
        let mut buffer = [0u8; 65536];
        let n = self
            .0
            .recv(&mut buffer)
            .unwrap_or_else(|e| panic!("{what}: no event ({e})"));
        serde_json::from_slice(&buffer[..n]).unwrap()
    }
}

fn aors(dump: &Value) -> Vec<Value> {
    dump["Domains"][0]["AORs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The AORs of `ul_dump`, once `usrloc:location-users`, `registered_users` and
/// `location-contacts` agree with them: a registration that arrives between the two calls
/// (the node moves each second) is waited out.
fn consistent(daemon: &Daemon) -> Vec<Value> {
    for _ in 0..10 {
        let registered = aors(&daemon.result("ul_dump", json!([])));
        let contacts: usize = registered
            .iter()
            .map(|a| a["Contacts"].as_array().map_or(0, Vec::len))
            .sum();
        let stats = daemon.result("get_statistics", json!([["usrloc:"]]));
        if stats["usrloc:location-users"] == registered.len()
            && stats["usrloc:registered_users"] == registered.len()
            && stats["usrloc:location-contacts"] == contacts
        {
            return registered;
        }
    }
    panic!("ul_dump and the usrloc statistics never agreed");
}

#[test]
fn opensips_cli_drives_the_simulated_proxy_which_says_it_is_simulated() {
    let daemon = simulated("3");
    let dump = opensips_cli(&daemon, &["ul_dump"]);
    assert_eq!(dump["Domains"][0]["name"], "location", "{dump}");
    assert_eq!(dump["Domains"][0]["hash_size"], 512);
    let registered = aors(&dump);
    assert!(!registered.is_empty(), "{dump}");
    let aor = registered[0]["AOR"].as_str().unwrap().to_string();
    let contact = &registered[0]["Contacts"][0];
    for member in [
        "Contact",
        "ContactID",
        "Expires",
        "Q",
        "Callid",
        "Cseq",
        "User-agent",
        "State",
        "Flags",
        "Cflags",
        "Socket",
        "Methods",
    ] {
        assert!(contact.get(member).is_some(), "{member} in {contact}");
    }
    let shown = opensips_cli(&daemon, &["ul_show_contact", "location", &aor]);
    assert_eq!(shown["AOR"], aor.as_str());
    assert_eq!(shown["Contacts"][0]["Contact"], contact["Contact"]);
    let brief = opensips_cli(&daemon, &["ul_dump", "brief=1"]);
    assert_eq!(brief["Domains"][0]["AORs"][0], json!({ "AOR": aor }));

    let version = daemon.result("version", json!([]));
    assert!(
        version["Server"]
            .as_str()
            .unwrap()
            .contains("simulated OpenSIPS proxy (seed 3)"),
        "{version}"
    );
    let ps = daemon.result("ps", json!([]));
    assert!(
        ps["Processes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["Type"] == "simulated OpenSIPS proxy (seed 3)"),
        "{ps}"
    );
    let page = daemon.get("/html/usrloc/ul_dump", "").unwrap();
    let page = String::from_utf8_lossy(&page.body);
    assert!(
        page.contains("simulated OpenSIPS proxy (seed 3)"),
        "the HTML page's header"
    );
    assert!(page.contains("ul_show_contact"));

    let plain = Daemon::start("").unwrap();
    assert_eq!(plain.call("ul_dump", json!([]))["error"]["code"], -32601);
}

#[test]
fn a_registration_is_in_ul_dump_in_the_statistics_and_its_removal_raises_events() {
    let daemon = simulated("4");
    let listener = Listener::subscribe(&daemon, &["E_UL_AOR_DELETE", "E_UL_CONTACT_DELETE"]);
    let registered = consistent(&daemon);
    let aor = registered[0]["AOR"].as_str().unwrap().to_string();
    let uri = registered[0]["Contacts"][0]["Contact"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        daemon.result("ul_rm", json!({"table_name": "location", "aor": aor})),
        "OK"
    );
    let seen = [
        listener.next("the contact's removal"),
        listener.next("the AOR's removal"),
    ];
    assert_eq!(seen[0]["method"], "E_UL_CONTACT_DELETE");
    assert_eq!(seen[0]["params"]["aor"], aor.as_str());
    assert_eq!(seen[0]["params"]["uri"], uri.as_str());
    assert_eq!(seen[0]["params"]["socket"], "udp:127.0.0.1:5060");
    assert_eq!(
        seen[1],
        json!({"jsonrpc": "2.0", "method": "E_UL_AOR_DELETE", "params": {"domain": "location", "aor": aor}})
    );
    let after = consistent(&daemon);
    assert!(after.iter().all(|a| a["AOR"] != aor.as_str()), "{after:?}");
    let gone = daemon.call("ul_show_contact", json!(["location", aor]));
    assert_eq!(
        gone["error"],
        json!({"code": 404, "message": "AOR not found"})
    );
    let missing = daemon.call("ul_rm_contact", json!(["location", "nobody", "sip:x@y"]));
    assert_eq!(
        missing["error"],
        json!({"code": 404, "message": "AOR not found"})
    );
    let table = daemon.call("ul_rm", json!(["nowhere", aor]));
    assert_eq!(
        table["error"],
        json!({"code": 404, "message": "Table not found"})
    );
}

#[test]
fn the_same_seed_gives_the_same_proxy() {
    // (Contact, Callid) of every registration: refreshes keep both.
    let registrations = |daemon: &Daemon| -> Vec<(Value, Value)> {
        aors(&daemon.result("ul_dump", json!([])))
            .iter()
            .flat_map(|a| {
                a["Contacts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| (c["Contact"].clone(), c["Callid"].clone()))
            })
            .collect()
    };
    let (first, second, other) = (simulated("5"), simulated("5"), simulated("6"));
    let (mut a, mut b) = (registrations(&first), registrations(&second));
    if a.len() > b.len() {
        std::mem::swap(&mut a, &mut b);
    }
    // A daemon that started later may have lived a second more: its proxy then has the
    // registrations of the other plus what that second brought, never others.
    assert!(
        !a.is_empty() && a.iter().all(|r| b.contains(r)),
        "{a:?}\n{b:?}"
    );
    let c = registrations(&other);
    assert!(
        c.iter().all(|r| !b.contains(r)),
        "another seed, other phones: {c:?}"
    );
}

#[test]
fn opensips_cli_lists_and_drains_a_dispatcher_destination() {
    let daemon = simulated("8");
    let listener = Listener::subscribe(&daemon, &["E_DISPATCHER_STATUS"]);
    let list = opensips_cli(&daemon, &["ds_list"]);
    let partition = &list["PARTITIONS"][0];
    assert_eq!(partition["name"], "default", "{list}");
    let media = &partition["SETS"][0];
    assert_eq!(media["id"], 1);
    assert_eq!(media["Destinations"][0]["URI"], "sip:10.0.1.11:5060");
    assert_eq!(media["Destinations"][0]["state"], "Active");
    assert!(media["Destinations"][0]["first_hit_counter"].is_u64());
    assert_eq!(
        media["Destinations"][0]["resolved_addresses"],
        json!(["10.0.1.11:5060"])
    );
    assert!(
        media["Destinations"][0].get("weight").is_none(),
        "only with full"
    );
    let full = opensips_cli(&daemon, &["ds_list", "full=1"]);
    assert_eq!(
        full["PARTITIONS"][0]["SETS"][0]["Destinations"][0]["weight"],
        2
    );

    let drained = opensips_cli(&daemon, &["ds_set_state", "i", "1", "sip:10.0.1.12:5060"]);
    assert_eq!(drained, "OK");
    let event = listener.next("the state change's event arrives");
    assert_eq!(
        event,
        json!({"jsonrpc": "2.0", "method": "E_DISPATCHER_STATUS", "params": {"group": 1, "address": "sip:10.0.1.12:5060", "status": "inactive", "reason": "MI command"}})
    );
    let after = daemon.result("ds_list", json!([]));
    assert_eq!(
        after["PARTITIONS"][0]["SETS"][0]["Destinations"][1]["state"],
        "Inactive"
    );
    assert_eq!(
        daemon.result("ds_set_state", json!(["a", "1", "sip:10.0.1.12:5060"])),
        "OK"
    );
    let wrong = daemon.call("ds_set_state", json!(["a", "1", "sip:nowhere"]));
    assert_eq!(
        wrong["error"],
        json!({"code": 404, "message": "destination not found"})
    );
}

#[test]
fn opensips_cli_lists_dialogs_and_profiles_of_the_simulated_calls() {
    let daemon = simulated("9");
    let dialogs = opensips_cli(&daemon, &["dlg_list"]);
    let listed = dialogs["Dialogs"]
        .as_array()
        .expect("a Dialogs array")
        .len();
    let profile = opensips_cli(&daemon, &["profile_get_size", "caller"]);
    assert_eq!(profile["Profile"]["name"], "caller", "{profile}");
    assert_eq!(profile["Profile"]["shared"], "no");
    assert!(profile["Profile"]["count"].as_u64().unwrap() as usize <= listed + 1);
    let positional = daemon.call("dlg_list", json!(["x"]));
    assert_eq!(
        positional["error"],
        json!({"code": -32602, "message": "Invalid params", "data": "Command only supports named parameters"})
    );
    let gone = daemon.call("dlg_end_dlg", json!(["0.0"]));
    assert_eq!(
        gone["error"],
        json!({"code": 404, "message": "Requested Dialog not found"})
    );
    let stats = daemon.result("get_statistics", json!([["dialog:"]]));
    for name in [
        "active_dialogs",
        "early_dialogs",
        "processed_dialogs",
        "expired_dialogs",
        "failed_dialogs",
    ] {
        assert!(
            stats[format!("dialog:{name}")].is_u64(),
            "{name} in {stats}"
        );
    }
}

#[test]
fn opensips_cli_disables_a_drouting_gateway_and_its_event_arrives() {
    let daemon = simulated("10");
    let listener = Listener::subscribe(&daemon, &["E_DROUTING_STATUS"]);
    let gateways = opensips_cli(&daemon, &["dr_gw_status"]);
    assert_eq!(
        gateways["Gateways"][0],
        json!({"ID": "gw1", "IP": "10.0.3.1:5060", "ATTRS": "carrier=alpha", "State": "Active"})
    );
    assert_eq!(
        opensips_cli(&daemon, &["dr_gw_status", "gw_id=gw1", "status=0"]),
        "OK"
    );
    let event = listener.next("the gateway's event arrives");
    assert_eq!(event["params"]["status"], "disabled MI", "{event}");
    assert_eq!(event["params"]["reason"], "MI command");
    let one = opensips_cli(&daemon, &["dr_gw_status", "gw_id=gw1"]);
    assert_eq!(one["State"], "Disabled MI");
    let carriers = opensips_cli(&daemon, &["dr_carrier_status"]);
    assert_eq!(carriers["Carriers"][0]["Enabled"], "yes");
    let partition = daemon.call("dr_gw_status", json!({"partition_name": "x"}));
    assert_eq!(
        partition["error"]["message"],
        "Invalid parameter: 'partition_name'"
    );
}

#[test]
fn the_load_balancer_rtpengine_clusterer_and_tm_modules_answer_opensips_cli() {
    let daemon = simulated("12");
    let listener = Listener::subscribe(&daemon, &["E_LOAD_BALANCER_STATUS", "E_RTPENGINE_STATUS"]);
    let lb = opensips_cli(&daemon, &["lb_list"]);
    assert_eq!(lb["Destinations"][0]["uri"], "sip:10.0.4.1:5060", "{lb}");
    assert_eq!(opensips_cli(&daemon, &["lb_status", "1", "0"]), "OK");
    let event = listener.next("the destination's event arrives");
    assert_eq!(
        event["params"],
        json!({"group": 1, "uri": "sip:10.0.4.1:5060", "status": "disabled"})
    );
    assert_eq!(
        opensips_cli(&daemon, &["lb_status", "1"]),
        json!({"enable": "no", "attrs": "site=east"})
    );
    let nodes = opensips_cli(&daemon, &["rtpengine_show"]);
    assert_eq!(nodes[0]["Nodes"][1]["url"], "udp:10.0.5.2:22222", "{nodes}");
    assert_eq!(
        opensips_cli(&daemon, &["rtpengine_enable", "udp:10.0.5.2:22222", "0"]),
        "OK"
    );
    let event = listener.next("the relay's event arrives");
    assert_eq!(
        event["params"],
        json!({"socket": "udp:10.0.5.2:22222", "status": "inactive"})
    );
    let cluster = opensips_cli(&daemon, &["clusterer_list"]);
    assert_eq!(
        cluster["Clusters"][0]["Nodes"][0]["description"],
        "backup proxy"
    );
    let missing = daemon.call("rtpengine_enable", json!(["udp:1.2.3.4:5", 1]));
    assert_eq!(
        (
            missing["error"]["code"].clone(),
            missing["error"]["message"].clone()
        ),
        (json!(404), json!("RTP engine not found"))
    );
    let options = daemon.result(
        "t_uac_dlg",
        json!({
            "method": "OPTIONS",
            "ruri": "sip:10.0.3.1:5060",
            "headers": "From: <sip:ops@example.com>\r\nTo: <sip:10.0.3.1:5060>\r\n"
        }),
    );
    assert_eq!(options["Status"], "200 OK", "{options}");
    assert_eq!(options["RURI"], "sip:10.0.3.1:5060");
    let stats = daemon.result(
        "get_statistics",
        json!({"statistics": ["UAC_transactions"]}),
    );
    assert!(stats["tm:UAC_transactions"].as_u64() >= Some(1), "{stats}");
}

#[test]
fn opensips_4_0_names_reach_the_same_commands_over_http_and_udp() {
    let daemon = simulated("13");
    for (old, new) in [
        ("lb_list", "load_balancer:list"),
        ("rtpengine_show", "rtpengine:show"),
        ("clusterer_list", "clusterer:list"),
        ("dr_gw_status", "drouting:gw_status"),
    ] {
        let params = json!({});
        assert_eq!(
            daemon.result(old, params.clone()),
            daemon.result(new, params),
            "{new}"
        );
    }
    let over_udp = |method: &str| {
        let request = json!({"jsonrpc": "2.0", "method": method, "params": {"brief": 1}, "id": 1});
        let reply = miwa_tests::udp_exchange(
            daemon.udp,
            request.to_string().as_bytes(),
            Duration::from_secs(5),
        )
        .unwrap()
        .expect("a datagram reply");
        serde_json::from_slice::<Value>(&reply).unwrap()["result"].clone()
    };
    let by_udp = over_udp("usrloc:dump");
    assert!(by_udp["Domains"].is_array(), "{by_udp}");
    assert_eq!(by_udp, over_udp("ul_dump"));
    let help = daemon.result("help", json!(["tm:uac_dlg"]));
    assert_eq!(
        help,
        json!({"Help": "not available for this command", "Exported by": "tm"})
    );
    let which = daemon.result("which", json!(["dialog:list"]));
    assert_eq!(
        which,
        json!([[], ["callid"], ["callid", "from_tag"], ["index", "counter"]])
    );
    let bare = daemon.call("list", json!([]));
    assert_eq!(bare["error"]["code"], -32001, "{bare}");
    assert_eq!(
        bare["error"]["data"],
        "supported names: statistics:list, evi:list, tcp:list, dispatcher:list, dialog:list, \
         load_balancer:list, clusterer:list",
        "{bare}"
    );
    let dump = daemon.result("dump", json!([]));
    assert!(dump["Domains"].is_array(), "{dump}");
    let usrloc = daemon.result("which", json!(["usrloc:"]));
    assert_eq!(
        usrloc,
        json!([
            "usrloc:rm",
            "usrloc:rm_contact",
            "usrloc:dump",
            "usrloc:flush",
            "usrloc:show_contact"
        ])
    );
    let listed = daemon.result("which", json!([]));
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(names.contains(&"ul_dump") && !names.contains(&"usrloc:dump"));
}

#[test]
fn the_opensips_package_and_a_front_drive_the_simulated_proxy() {
    let node = simulated("14");
    let mi = Command::new(workspace().join("tests/.venv/bin/opensips-mi"))
        .args([
            "-t",
            "datagram",
            "-p",
            &node.udp.port().to_string(),
            "lb_list",
        ])
        .output()
        .expect("opensips-mi runs");
    assert!(
        mi.status.success(),
        "{}",
        String::from_utf8_lossy(&mi.stderr)
    );
    let listed: Value = serde_json::from_slice(&mi.stdout).expect("opensips-mi prints JSON");
    assert_eq!(listed, node.result("lb_list", json!([])));
    let front = Daemon::start(&format!(
        "\n[upstreams.simulated]\nudp = \"{}\"\n[front]\nupstream = \"simulated\"\n",
        node.udp
    ))
    .expect("front starts");
    let version = front.result("version", json!([]));
    assert!(
        version["Server"]
            .as_str()
            .unwrap()
            .contains("simulated OpenSIPS proxy (seed 14)"),
        "the node says it is simulated through the front: {version}"
    );
    assert_eq!(
        front.result("clusterer_list", json!([])),
        node.result("clusterer_list", json!([]))
    );
    let cancelled = front.call("t_uac_cancel", json!(["no-such-call", "1"]));
    assert_eq!(
        cancelled["error"],
        json!({"code": 481, "message": "No such transaction"})
    );
}
