//! Test harness: real `nats-server` and `mosquitto` processes on free loopback ports in temp dirs.
