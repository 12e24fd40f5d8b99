//! The avatard side of the imaging benchmark: the avatar job on one input file, timed.
//!
//! Usage: avatard-bench-imaging INPUT ITERATIONS [WARMUP] [OUTPUT]
//!
//! Reads INPUT once, runs the upload pipeline on its bytes WARMUP times untimed (default 2), then
//! ITERATIONS times timed, and prints one line of JSON in the shape `sharp-bench.js` prints: the
//! wall time of each iteration in ms and the process's peak RSS in KiB (getrusage ru_maxrss, which
//! is what node's `process.resourceUsage().maxRSS` reports). OUTPUT, if given, receives the last
//! iteration's output.

use std::process::ExitCode;
use std::time::Instant;

use avatard_imaging::{Avatar, AvatarOptions, ImageError, Limits, process_avatar};

/// The allocator the avatard binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Output width and height: Rocket.Chat's default `Accounts_AvatarSize`.
const SIZE: u32 = 200;

/// The job: the one call to the pipeline. Upright, squared to SIZE, animations kept animated,
/// output in the input's format (`output: None`), default limits. Adjust here when
/// `AvatarOptions` changes.
fn job(input: &[u8]) -> Result<Avatar, ImageError> {
    process_avatar(
        input,
        &AvatarOptions {
            size: SIZE,
            resize: true,
            auto_orient: true,
            animated: true,
            output: None,
            limits: Limits::default(),
        },
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(input), Some(iterations)) = (args.first(), args.get(1)) else {
        eprintln!("usage: avatard-bench-imaging INPUT ITERATIONS [WARMUP] [OUTPUT]");
        return ExitCode::from(2);
    };
    let Ok(iterations) = iterations.parse::<usize>() else {
        eprintln!("avatard-bench-imaging: ITERATIONS must be a whole number");
        return ExitCode::from(2);
    };
    let Ok(warmup) = args.get(2).map_or(Ok(2), |w| w.parse::<usize>()) else {
        eprintln!("avatard-bench-imaging: WARMUP must be a whole number");
        return ExitCode::from(2);
    };
    let output = args.get(3);
    let bytes = match std::fs::read(input) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("avatard-bench-imaging: {input}: {e}");
            return ExitCode::FAILURE;
        }
    };

    let mut last = None;
    let mut times = Vec::with_capacity(iterations);
    for i in 0..warmup + iterations {
        let started = Instant::now();
        let result = job(&bytes);
        let elapsed = started.elapsed();
        match result {
            Ok(avatar) => last = Some(avatar),
            Err(e) => {
                eprintln!("avatard-bench-imaging: {input}: {e}");
                return ExitCode::FAILURE;
            }
        }
        if i >= warmup {
            times.push(elapsed.as_secs_f64() * 1000.0);
        }
    }
    let (out_bytes, out_format, out_width, out_height, out_frames) = match &last {
        Some(avatar) => (
            avatar.bytes.len(),
            avatar.format.mime(),
            avatar.width,
            avatar.height,
            avatar.frames,
        ),
        None => (0, "", 0, 0, 0),
    };
    if let (Some(path), Some(avatar)) = (output, &last)
        && let Err(e) = std::fs::write(path, &avatar.bytes)
    {
        eprintln!("avatard-bench-imaging: {path}: {e}");
        return ExitCode::FAILURE;
    }
    let times = times
        .iter()
        .map(|t| format!("{t:.6}"))
        .collect::<Vec<_>>()
        .join(",");
    println!(
        "{{\"engine\":\"avatard\",\"input\":{},\"warmup\":{warmup},\"output_format\":\"{out_format}\",\
         \"output_width\":{out_width},\"output_height\":{out_height},\"output_frames\":{out_frames},\
         \"output_bytes\":{out_bytes},\
         \"times_ms\":[{times}],\"max_rss_kib\":{}}}",
        json_string(input),
        max_rss_kib()
    );
    ExitCode::SUCCESS
}

/// Peak resident set size of this process in KiB (Linux reports ru_maxrss in KiB).
fn max_rss_kib() -> i64 {
    // SAFETY: getrusage only writes into the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return -1;
    }
    usage.ru_maxrss
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
