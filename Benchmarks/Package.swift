// swift-tools-version: 6.0
// Benchmarks for swift-load, kept out of the root package so that benchmark code never ships and the
// root build never waits for it. Run everything with `Benchmarks/run` (see README.md).
import PackageDescription

let package = Package(
    name: "swift-load-benchmarks",
    dependencies: [
        // The repository root: btf-bench uses the offline products only; load-bench the kernel side (BPF).
        .package(name: "swift-load", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "btf-bench",
            dependencies: [
                .product(name: "BTF", package: "swift-load"),
                .product(name: "ByteParsing", package: "swift-load"),
            ]),
        // Object loading and map access through the library, against harness/libbpf_load_bench.c.
        .executableTarget(
            name: "load-bench",
            dependencies: [
                .product(name: "BPF", package: "swift-load"),
                .product(name: "BPFObject", package: "swift-load"),
            ]),
        // Ring buffer consumption through RingBufferReader, against harness/libbpf_ringbuf_bench.c.
        .executableTarget(
            name: "ringbuf-bench",
            dependencies: [
                .product(name: "BPF", package: "swift-load"),
                .product(name: "BPFObject", package: "swift-load"),
            ]),
        // Attaching through the library, against harness/libbpf_attach_bench.c.
        .executableTarget(
            name: "attach-bench",
            dependencies: [
                .product(name: "BPF", package: "swift-load"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
