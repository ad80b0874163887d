//! The Rust callee of bench/go (docs/performance-go.md): the same "upper" method as the C++
//! demo plugin and the go-plugin plugin, so the Go host's call round trip is compared on equal
//! work. bench/go/run.sh builds it and assembles the bundle.

use std::process::ExitCode;

use cordon_plugin::{Error, Plugin};

fn main() -> ExitCode {
    let mut plugin = Plugin::new("rust-upper", "0.1.0");
    plugin.method("upper", |_call, input| Ok::<_, Error>(input.as_bytes().to_ascii_uppercase()));
    plugin.run()
}
