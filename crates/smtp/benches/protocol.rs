//! Benchmarks of the protocol hot paths: command parsing, line framing and the DATA scanner.

use std::hint::black_box;

use backupmx_smtp::{DataScanner, LineFramer, parse_command};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const MAIL: &[u8] = b"MAIL FROM:<sender.name+tag@mail.example.org> SIZE=48213 BODY=8BITMIME";
const RCPT: &[u8] = b"RCPT TO:<recipient@backed-up.example.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;recipient@backed-up.example.test";

fn commands(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_command");
    for (name, line) in [
        ("mail", MAIL),
        ("rcpt", RCPT),
        ("ehlo", b"EHLO mail.example.org".as_slice()),
    ] {
        group.throughput(Throughput::Bytes(line.len() as u64));
        group.bench_function(name, |b| b.iter(|| parse_command(black_box(line))));
    }
    group.finish();
}

/// A dot-terminated message of about `size` bytes; every tenth line is dot-stuffed.
fn message(size: usize) -> Vec<u8> {
    let mut input = Vec::with_capacity(size + 100);
    let mut index = 0;
    while input.len() < size {
        let line: &[u8] = if index % 10 == 0 {
            b"..a dot-stuffed line of message text\r\n"
        } else {
            b"An ordinary line of message text, about the length of most lines in mail.\r\n"
        };
        input.extend_from_slice(line);
        index += 1;
    }
    input.extend_from_slice(b".\r\n");
    input
}

fn data_scanner(c: &mut Criterion) {
    let mut group = c.benchmark_group("data_scanner");
    for (name, size) in [("4KiB", 4 * 1024), ("1MiB", 1024 * 1024)] {
        let input = message(size);
        group.throughput(Throughput::Bytes(input.len() as u64));
        let mut out = Vec::with_capacity(input.len());
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                let mut scanner = DataScanner::new(u64::MAX);
                // 64 KiB reads, like the daemon's.
                for chunk in black_box(&input).chunks(64 * 1024) {
                    scanner.feed(chunk, &mut out);
                }
                scanner.finish()
            })
        });
    }
    group.finish();
}

fn line_framer(c: &mut Criterion) {
    let mut pipelined = Vec::new();
    for _ in 0..50 {
        for line in [MAIL, RCPT, RCPT, b"DATA".as_slice()] {
            pipelined.extend_from_slice(line);
            pipelined.extend_from_slice(b"\r\n");
        }
    }
    let mut group = c.benchmark_group("line_framer");
    group.throughput(Throughput::Bytes(pipelined.len() as u64));
    group.bench_function("pipelined_200_lines", |b| {
        b.iter(|| {
            let mut framer = LineFramer::new();
            framer.push(black_box(&pipelined));
            std::iter::from_fn(|| framer.next_line()).count()
        })
    });
    group.finish();
}

criterion_group!(benches, commands, data_scanner, line_framer);
criterion_main!(benches);
