//! Every simulated command's reply against the shape OpenSIPS 3.6 builds (member names,
//! their order and kinds), on a proxy an hour into its life, and each one's 4.0 name
//! answering the same.

use mi_core::json::{self, Value};
use mi_sim::Proxy;

/// The reply's shape: objects with their members in order, an array as its first item,
/// `s` a string, `n` a number.
fn shape(value: &Value) -> String {
    match value {
        Value::Object(members) => {
            let inner: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("{k}:{}", shape(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => match items.first() {
            Some(first) => format!("[{}]", shape(first)),
            None => "[]".into(),
        },
        Value::String(_) => "s".into(),
        Value::Number(_) => "n".into(),
        Value::Bool(_) => "b".into(),
        Value::Null => "null".into(),
    }
}

fn parse(text: &str) -> Value {
    json::parse(text.as_bytes(), 64).unwrap().0
}

/// An hour of a proxy's life, then a call ringing and one answered.
fn proxy() -> Proxy {
    let start = 1_800_000_000;
    let mut proxy = Proxy::new(11, start);
    let mut now = start + 3600;
    proxy.advance_to(now);
    let states = |p: &mut Proxy| p.call("dialog", "dlg_list", "{}").unwrap().0;
    while !(states(&mut proxy).contains(r#""state":4"#)) {
        now += 1;
        proxy.advance_to(now);
    }
    proxy
}

#[test]
fn every_command_answers_in_3_6_s_shape() {
    let mut proxy = proxy();
    let (dump, _) = proxy.call("usrloc", "ul_dump", "{}").unwrap();
    let aor = parse(&dump);
    let aor = match &aor {
        Value::Object(m) => m[0].1.clone(),
        _ => unreachable!(),
    };
    let first_aor = json::to_compact(&aor);
    let aor_name = first_aor
        .split(r#""AOR":""#)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let (list, _) = proxy.call("dialog", "dlg_list", "{}").unwrap();
    let confirmed = list
        .split(r#"{"ID":""#)
        .find(|d| d.contains(r#""state":4"#))
        .unwrap();
    let id = confirmed.split('"').next().unwrap().to_string();
    let contact = "Contact:s,ContactID:s,Expires:n,Q:s,Callid:s,Cseq:n,User-agent:s,State:s,Flags:n,Cflags:s,Socket:s,Methods:n";
    let cases: Vec<(&str, &str, String, String)> = vec![
        ("usrloc", "ul_dump", "{}".into(), format!("{{Domains:[{{name:s,hash_size:n,AORs:[{{AOR:s,Contacts:[{{{contact}}}]}}]}}]}}")),
        ("usrloc", "ul_dump", r#"{"brief":1}"#.into(), "{Domains:[{name:s,hash_size:n,AORs:[{AOR:s}]}]}".into()),
        ("usrloc", "ul_show_contact", format!(r#"{{"table_name":"location","aor":"{aor_name}"}}"#), format!("{{AOR:s,Contacts:[{{{contact}}}]}}")),
        ("usrloc", "ul_flush", "{}".into(), "s".into()),
        ("dispatcher", "ds_list", "{}".into(), "{PARTITIONS:[{name:s,SETS:[{id:n,Destinations:[{URI:s,state:s,first_hit_counter:n,resolved_addresses:[s]}]}]}]}".into()),
        ("dispatcher", "ds_list", r#"{"full":1}"#.into(), "{PARTITIONS:[{name:s,SETS:[{id:n,Destinations:[{URI:s,state:s,first_hit_counter:n,weight:n,priority:n,description:s,resolved_addresses:[s]}]}]}]}".into()),
        ("dispatcher", "ds_reload", "{}".into(), "s".into()),
        ("dialog", "dlg_list", "{}".into(), "{Dialogs:[{ID:s,db_id:s,state:n,user_flags:s,timestart:n,".to_string()),
        ("dialog", "dlg_list", r#"{"index":0,"counter":1}"#.into(), "{count:n,Dialogs:[{ID:s,db_id:s,state:n,user_flags:s,timestart:n,".into()),
        ("dialog", "profile_get_size", r#"{"profile":"caller"}"#.into(), "{Profile:{name:s,value:null,count:n,shared:s,replicated:s}}".into()),
        ("dialog", "profile_get_size", r#"{"profile":"caller","value":"alice"}"#.into(), "{Profile:{name:s,value:s,count:n,shared:s,replicated:s}}".into()),
        ("drouting", "dr_gw_status", "{}".into(), "{Gateways:[{ID:s,IP:s,ATTRS:s,State:s}]}".into()),
        ("drouting", "dr_gw_status", r#"{"gw_id":"gw1"}"#.into(), "{ATTRS:s,State:s}".into()),
        ("drouting", "dr_carrier_status", "{}".into(), "{Carriers:[{ID:s,ATTRS:s,Enabled:s}]}".into()),
        ("drouting", "dr_carrier_status", r#"{"carrier_id":"alpha"}"#.into(), "{ATTRS:s,Enabled:s}".into()),
        ("drouting", "dr_reload", "{}".into(), "s".into()),
        ("load_balancer", "lb_list", "{}".into(), "{Destinations:[{uri:s,id:n,group:n,enabled:s,auto-reenable:s,Resources:[{name:s,max:n,load:n}],attrs:s}]}".into()),
        ("load_balancer", "lb_status", r#"{"destination_id":1}"#.into(), "{enable:s,attrs:s}".into()),
        ("load_balancer", "lb_status", r#"{"destination_id":2}"#.into(), "{enable:s}".into()),
        ("load_balancer", "lb_resize", r#"{"destination_id":1,"res_name":"vm","new_capacity":12}"#.into(), "s".into()),
        ("load_balancer", "lb_reload", "{}".into(), "s".into()),
        ("rtpengine", "rtpengine_show", "{}".into(), "[{Set:n,Nodes:[{url:s,index:n,disabled:n,weight:n,recheck_ticks:n}]}]".into()),
        ("rtpengine", "rtpengine_enable", r#"{"url":"udp:10.0.5.1:22222","enable":1}"#.into(), "s".into()),
        ("clusterer", "clusterer_list", "{}".into(), "{Clusters:[{cluster_id:n,Nodes:[{node_id:n,db_id:n,url:s,link_state:s,state:s,next_hop:s,description:s}]}]}".into()),
        ("clusterer", "clusterer_list_cap", "{}".into(), "{Clusters:[{cluster_id:n,Capabilities:[{name:s,state:s,enabled:s}]}]}".into()),
        ("clusterer", "clusterer_set_status", r#"{"cluster_id":1,"node_id":3,"status":1}"#.into(), "s".into()),
        ("clusterer", "clusterer_reload", "{}".into(), "s".into()),
        ("tm", "t_uac_dlg", format!(r#"{{"method":"OPTIONS","ruri":"sip:{aor_name}@example.com","headers":"From: <sip:ops@example.com>\r\nTo: <sip:{aor_name}@example.com>\r\n"}}"#), "{Status:s,RURI:s,Next-hop:s,Message:s}".into()),
        ("tm", "t_uac_dlg", r#"{"method":"OPTIONS","ruri":"sip:nobody@example.com","headers":"From: <sip:ops@example.com>\r\nTo: <sip:nobody@example.com>\r\n"}"#.into(), "{Status:s,Message:s}".into()),
        ("tm", "t_hash", "{}".into(), "[{index:n,Current:n,Total:n}]".into()),
        ("dialog", "dlg_end_dlg", format!(r#"{{"dialog_id":"{id}"}}"#), "s".into()),
        ("usrloc", "ul_rm", format!(r#"{{"table_name":"location","aor":"{aor_name}"}}"#), "s".into()),
    ];
    let mut seen: Vec<&str> = Vec::new();
    for (module, command, params, expected) in &cases {
        let (text, _) = proxy
            .call(module, command, params)
            .unwrap_or_else(|e| panic!("{command} {params}: {} {}", e.code, e.message));
        let got = shape(&parse(&text));
        assert!(
            got == *expected || (expected.ends_with(',') && got.starts_with(expected.as_str())),
            "{command} {params}:\n got {got}\nwant {expected}"
        );
        seen.push(command);
    }
    let errors_only = [
        "ul_rm_contact",
        "ds_set_state",
        "rtpengine_reload",
        "teardown",
        "t_uac_cancel",
        "t_reply",
    ];
    for command in Proxy::commands() {
        assert!(
            seen.contains(&command.name.as_str()) || errors_only.contains(&command.name.as_str()),
            "{} has no shape case",
            command.name
        );
    }
}

#[test]
fn a_4_0_name_finds_the_same_command() {
    let commands = Proxy::commands();
    for command in &commands {
        let name = mi_sim::name_4_0(command).unwrap();
        let found = mi_sim::find_command(&commands, &name).unwrap();
        assert_eq!(
            (found.name.as_str(), found.module.as_str()),
            (command.name.as_str(), command.module.as_str())
        );
    }
}
