//! wordcount: an example cordon plugin in Rust.
//!
//! Methods (input and output are bytes; outputs are JSON):
//!   count       text -> {"lines":L,"words":W,"bytes":B}
//!   top         text -> the ten most frequent words, [{"word":"the","count":3},...]
//!   upper       text -> the same text upper-cased (ASCII); a transformer whose large results
//!               leave as sealed memfds
//!   count_file  a path beneath a granted directory -> count of that file, read through the
//!               broker ({"path":...,"lines":...}); a path outside the grants fails with
//!               PERMISSION_DENIED from the launcher
//!   crash       logs, then dies of SIGSEGV (the host sees the plugin crash)
//!   hang        never returns (the host kills it at the call deadline)
//!   panic       panics inside the handler (the call fails with INTERNAL; the plugin lives on)

use std::collections::HashMap;
use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use cordon_plugin::{Call, Error, Payload, Plugin, Result};

// Larger inputs are refused rather than counted slowly into the call deadline.
const MAX_FILE_BYTES: u64 = 64 << 20;

#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    lines: u64,
    words: u64,
    bytes: u64,
}

fn count(data: &[u8]) -> Counts {
    let mut c = Counts { bytes: data.len() as u64, ..Counts::default() };
    let mut in_word = false;
    for &b in data {
        if b == b'\n' {
            c.lines += 1;
        }
        if b.is_ascii_whitespace() {
            in_word = false;
        } else if !in_word {
            in_word = true;
            c.words += 1;
        }
    }
    // A last line without its newline still counts.
    if !data.is_empty() && data[data.len() - 1] != b'\n' {
        c.lines += 1;
    }
    c
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn counts_json(c: &Counts) -> String {
    format!("{{\"lines\":{},\"words\":{},\"bytes\":{}}}", c.lines, c.words, c.bytes)
}

/// Words are maximal runs of alphanumerics or apostrophes, lower-cased; ties sort by word.
fn top_words(text: &str, n: usize) -> Vec<(String, u64)> {
    let mut freq: HashMap<String, u64> = HashMap::new();
    for w in text.split(|c: char| !(c.is_alphanumeric() || c == '\'')) {
        let w = w.trim_matches('\'');
        if !w.is_empty() {
            *freq.entry(w.to_lowercase()).or_insert(0) += 1;
        }
    }
    let mut v: Vec<(String, u64)> = freq.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

fn top_json(words: &[(String, u64)]) -> String {
    let items: Vec<String> = words
        .iter()
        .map(|(w, c)| format!("{{\"word\":{},\"count\":{}}}", json_string(w), c))
        .collect();
    format!("[{}]", items.join(","))
}

fn count_file(call: &Call, input: Payload) -> Result<String> {
    let path = input.as_str()?.trim();
    if path.is_empty() {
        return Err(Error::invalid_argument(
            "count_file: the input must be a path, e.g. /data/notes.txt",
        ));
    }
    let file = call.host().open_file(path).map_err(|e| e.context(format!("opening {}", path)))?;
    let mut data = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(|e| Error::from(e).context(format!("reading {}", path)))?;
    if data.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::resource_exhausted(format!(
            "{} is larger than {} bytes",
            path, MAX_FILE_BYTES
        )));
    }
    let c = count(&data);
    Ok(format!(
        "{{\"path\":{},\"lines\":{},\"words\":{},\"bytes\":{}}}",
        json_string(path),
        c.lines,
        c.words,
        c.bytes
    ))
}

fn main() -> ExitCode {
    plugin().run()
}

fn plugin() -> Plugin {
    let mut plugin = Plugin::new("wordcount", env!("CARGO_PKG_VERSION"));
    plugin.request_capability("fs.read", "/data");
    plugin.method("count", |_call, input| Ok(counts_json(&count(&input))));
    plugin.method("top", |_call, input| Ok(top_json(&top_words(input.as_str()?, 10))));
    plugin.method("upper", |_call, input| Ok(input.to_ascii_uppercase()));
    plugin.method("count_file", count_file);
    plugin.method("crash", |call, _input| -> Result<Payload> {
        // Best effort: the host may log it before the crash is noticed.
        let _ = call.host().warn("wordcount: crashing on purpose (SIGSEGV)");
        // SAFETY: not safe at all; this is the misbehaviour the demo shows. A volatile write
        // through a null pointer faults instead of being optimised away.
        unsafe { std::ptr::write_volatile(std::ptr::null_mut::<u8>(), 1) };
        unreachable!()
    });
    plugin.method("hang", |_call, _input| -> Result<Payload> {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    });
    plugin.method("panic", |_call, _input| -> Result<Payload> {
        panic!("wordcount: panicking on purpose")
    });
    plugin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_wc() {
        assert_eq!(count(b""), Counts { lines: 0, words: 0, bytes: 0 });
        assert_eq!(count(b"one two\nthree\n"), Counts { lines: 2, words: 3, bytes: 14 });
        assert_eq!(count(b"no newline"), Counts { lines: 1, words: 2, bytes: 10 });
        assert_eq!(count(b"  \t\n\n"), Counts { lines: 2, words: 0, bytes: 5 });
    }

    #[test]
    fn top_words_rank_by_count_then_word() {
        let t = top_words("The cat and the hat. THE END, and 'quoted'", 3);
        assert_eq!(t, vec![("the".to_string(), 3), ("and".to_string(), 2), ("cat".to_string(), 1)]);
        assert_eq!(top_json(&t[..1]), "[{\"word\":\"the\",\"count\":3}]");
    }

    #[test]
    fn methods_through_a_test_host() {
        use cordon_plugin::testing::{broker_error, broker_file, TestHost};
        use cordon_plugin::{proto, Code};
        use std::io::Write;

        let mut host = TestHost::start(plugin(), proto::Welcome::default()).unwrap();
        assert_eq!(host.hello().methods.len(), 7);
        assert_eq!(
            &*host.call("count", "a b\nc\n").unwrap(),
            b"{\"lines\":2,\"words\":3,\"bytes\":6}"
        );
        assert_eq!(&*host.call("upper", "abc").unwrap(), b"ABC");
        assert_eq!(host.call("panic", "").unwrap_err().code(), Code::Internal);

        // count_file: the broker hands over a file, or refuses the path.
        let path = std::env::temp_dir().join(format!("wordcount-test-{}", std::process::id()));
        std::fs::File::create(&path).unwrap().write_all(b"one two\nthree\n").unwrap();
        let opened = path.clone();
        host.on_broker(move |req| match &req.request {
            Some(proto::broker_request::Request::OpenFile(o)) if o.path == "/data/notes.txt" => {
                broker_file(std::fs::File::open(&opened).unwrap())
            }
            _ => broker_error(Code::PermissionDenied, "outside the grants"),
        });
        let out = host.call("count_file", "/data/notes.txt\n").unwrap();
        assert_eq!(
            out.as_str().unwrap(),
            "{\"path\":\"/data/notes.txt\",\"lines\":2,\"words\":3,\"bytes\":14}"
        );
        let e = host.call("count_file", "/etc/shadow").unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
        assert!(e.message().contains("opening /etc/shadow: outside the grants"), "{}", e);
        std::fs::remove_file(&path).unwrap();
        host.shutdown().unwrap();
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }
}
