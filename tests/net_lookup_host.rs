//! `net::lookup_host`: name resolution through the executor, without blocking the loop. Only
//! names the machine resolves by itself (`localhost`, literals) are used: no DNS traffic.

mod common;

use std::io;
use std::net::SocketAddr;

use corio::net::lookup_host;

#[test]
fn localhost_resolves_to_loopback_addresses_with_the_port() {
    let addrs = corio::run(|| lookup_host("localhost", 4242)).unwrap();
    assert!(!addrs.is_empty());
    for a in &addrs {
        assert!(a.ip().is_loopback(), "{a}");
        assert_eq!(a.port(), 4242);
    }
}

#[test]
fn it_agrees_with_std_to_socket_addrs() {
    use std::net::ToSocketAddrs;
    let mut ours = corio::run(|| lookup_host("localhost", 80)).unwrap();
    let mut std: Vec<SocketAddr> = ("localhost", 80).to_socket_addrs().unwrap().collect();
    ours.sort();
    std.sort();
    assert_eq!(ours, std);
}

#[test]
fn ip_literals_come_back_as_they_are() {
    let (v4, v6) = corio::run(|| {
        (
            lookup_host("192.0.2.7", 1).unwrap(),
            lookup_host("2001:db8::1", 2).unwrap(),
        )
    });
    assert_eq!(v4, ["192.0.2.7:1".parse::<SocketAddr>().unwrap()]);
    assert_eq!(v6, ["[2001:db8::1]:2".parse::<SocketAddr>().unwrap()]);
}

#[test]
fn a_host_with_a_nul_byte_is_invalid_input() {
    let err = corio::run(|| lookup_host("local\0host", 80)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn a_lookup_waits_for_the_executor_while_the_loop_goes_on() {
    // The executor's only thread is held: a lookup that went through the pool cannot end, one
    // made on the loop's thread would.
    let v = corio::run(|| common::runs_on_the_pool(|| lookup_host("localhost", 4242)));
    let v = v.unwrap();
    assert!(!v.is_empty() && v.iter().all(|a| a.port() == 4242), "{v:?}");
}

#[test]
fn ip_literals_need_no_thread() {
    let v = corio::run(|| common::needs_no_pool(|| lookup_host("::1", 7).unwrap()));
    assert_eq!(v, ["[::1]:7".parse::<SocketAddr>().unwrap()]);
}

#[test]
fn many_lookups_at_once_each_get_their_port() {
    corio::run(|| {
        let lookups: Vec<_> = (0..8)
            .map(|i| corio::spawn(move || lookup_host("localhost", 1000 + i).unwrap()))
            .collect();
        for (i, l) in lookups.into_iter().enumerate() {
            let v = l.join().unwrap();
            assert!(!v.is_empty());
            assert!(v.iter().all(|a| a.port() == 1000 + i as u16), "{v:?}");
        }
    });
}
