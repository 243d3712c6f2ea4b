//! Shared helpers of the tests that talk to the servers scripts/test.sh starts:
//! their settings from the environment, and a loopback port where nothing listens.

// Each test file uses a part of these helpers.
#![allow(dead_code)]

/// The value of `name`; fails the test when scripts/test.sh did not set it.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test.sh, which starts the servers")
    })
}

/// `name` parsed as a port.
pub fn env_port(name: &str) -> u16 {
    env(name)
        .parse()
        .unwrap_or_else(|e| panic!("{name}: not a port: {e}"))
}

/// A port on 127.0.0.1 that was free a moment ago and is closed now.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local_addr").port()
}

/// A listener on `ip` (port 0: any) whose accepts never block.
pub fn quiet_listener(ip: &str, port: u16) -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind((ip, port)).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    listener
}

/// True when someone has connected to `listener`.
pub fn was_connected(listener: &std::net::TcpListener) -> bool {
    match listener.accept() {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(e) => panic!("accept: {e}"),
    }
}
