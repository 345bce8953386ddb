//! Network-namespace labs for integration tests, interop runs and benchmarks: namespaces,
//! veth pairs, bridges, and process control by PID. Nothing here touches the root namespace.
