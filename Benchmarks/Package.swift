// swift-tools-version: 6.0
// Benchmarks for swift-load, kept out of the root package so that benchmark code never ships and the
// root build never waits for it. Run everything with `Benchmarks/run` (see README.md).
import PackageDescription

let package = Package(
    name: "swift-load-benchmarks",
    dependencies: [
        // The repository root: the offline products only (no kernel access in the benchmark binary).
        .package(name: "swift-load", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "btf-bench",
            dependencies: [
                .product(name: "BTF", package: "swift-load"),
                .product(name: "ByteParsing", package: "swift-load"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
