#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Round trips through the whole connector path on loopback TCP (transport, driver loop, link,
//! decode, in-memory ingest, acknowledgement), and the serial-line framer alone.
//!
//! `cargo bench -p labwire-connectors --bench links` prints time per message; nothing is asserted.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use labwire_connectors::astm::{AstmConfig, AstmConnector};
use labwire_connectors::hl7::{Hl7Config, Hl7Connector};
use labwire_connectors::serial_line::LineFramer;
use labwire_connectors::transport::{OnSecondConnection, TcpServer, TcpServerConfig, Transport};
use labwire_connectors::{Connector, ConnectorContext, MemoryIngest, run};
use labwire_event::{InstrumentId, SiteId};
use std::collections::VecDeque;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

const ORU: &[u8] = b"MSH|^~\\&|BA400|Bio|Host|Lab|20261126101500||OUL^R22^OUL_R22|M1|P|2.5.1\r\
SPM|1|S1||SER\rOBR||\"\"||GLU^Glucose^A400\rOBX|1|NM|GLU^Glucose^A400||5.4|mmol/L||N|||F\r";
const ASTM: &[u8] = b"H|\\^&|||c311^1.0|||||||P|LIS2-A2|20261126101500\rP|1||PID1\rO|1|S1||^^^GLU|R\rR|1|^^^GLU|5.4|mmol/L|3.9-6.1|N||F\rL|1|N\r";

fn start<C: Connector>(rt: &Runtime, connector: C, name: &str) -> SocketAddr {
    rt.block_on(async {
        let server = TcpServer::bind(TcpServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            allow_peers: Vec::new(),
            on_second_connection: OnSecondConnection::Refuse,
            ..TcpServerConfig::new("127.0.0.1:0".parse().unwrap())
        })
        .await
        .unwrap();
        let addr = server.local_addr();
        let ctx = ConnectorContext::new(
            SiteId::new("bench").unwrap(),
            InstrumentId::new(name).unwrap(),
            MemoryIngest::new(),
        );
        tokio::spawn(run(connector, Transport::from(server), ctx));
        addr
    })
}

/// Reads until `pred` holds for what has arrived.
async fn read_until(s: &mut TcpStream, buf: &mut Vec<u8>, pred: impl Fn(&[u8]) -> bool) {
    buf.clear();
    let mut chunk = [0u8; 1024];
    while !pred(buf) {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn hl7_round_trip(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let addr = start(&rt, Hl7Connector::new(Hl7Config::default()), "bench-hl7");
    let mut s = rt.block_on(TcpStream::connect(addr)).unwrap();
    s.set_nodelay(true).unwrap();
    let mut framed = Vec::new();
    labwire_hl7::mllp::frame(ORU, &mut framed);
    let mut buf = Vec::new();
    let mut g = c.benchmark_group("connector");
    g.throughput(Throughput::Elements(1));
    g.bench_function("hl7_oru_to_aa_loopback", |b| {
        b.iter(|| {
            rt.block_on(async {
                s.write_all(&framed).await.unwrap();
                read_until(&mut s, &mut buf, |b| b.ends_with(&[0x1c, 0x0d])).await;
            });
        });
    });
    g.finish();
}

fn astm_round_trip(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let addr = start(&rt, AstmConnector::new(AstmConfig::default()), "bench-astm");
    let mut s = rt.block_on(TcpStream::connect(addr)).unwrap();
    // Without it the client's EOT + next ENQ wait on Nagle and the server's delayed ACK (~40 ms).
    s.set_nodelay(true).unwrap();
    let mut frame = Vec::new();
    labwire_astm::link::encode_frame(
        labwire_astm::link::FrameNumber::FIRST,
        ASTM,
        labwire_astm::link::FrameEnd::Last,
        &mut frame,
    );
    let mut buf = Vec::new();
    let mut g = c.benchmark_group("connector");
    g.throughput(Throughput::Elements(1));
    g.bench_function("astm_enq_frame_ack_eot_loopback", |b| {
        b.iter(|| {
            rt.block_on(async {
                s.write_all(&[0x05]).await.unwrap();
                read_until(&mut s, &mut buf, |b| b == [0x06]).await;
                s.write_all(&frame).await.unwrap();
                read_until(&mut s, &mut buf, |b| b == [0x06]).await;
                s.write_all(&[0x04]).await.unwrap();
            });
        });
    });
    g.finish();
}

fn line_framer(c: &mut Criterion) {
    let line = b"ST,GS,+0012.34 g\r\n";
    let input: Vec<u8> = line
        .iter()
        .copied()
        .cycle()
        .take(line.len() * 4096)
        .collect();
    let mut g = c.benchmark_group("serial_line");
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.bench_function("line_framer_18_byte_lines", |b| {
        let mut out = VecDeque::new();
        b.iter(|| {
            let mut f = LineFramer::new(256);
            f.push(&input, &mut out);
            let n = out.len();
            out.clear();
            n
        });
    });
    g.finish();
}

criterion_group!(benches, hl7_round_trip, astm_round_trip, line_framer);
criterion_main!(benches);
