// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "flowspec-nft",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "FlowSpec", targets: ["FlowSpec", "FlowSpecFormats"]),
        .library(name: "FlowSpecCompiler", targets: ["FlowSpecCompiler"]),
        .library(name: "FlowSpecKeeper", targets: ["FlowSpecKeeper"]),
        .library(name: "FlowSpecNetlink", targets: ["FlowSpecNetlink"]),
        .library(name: "FlowSpecBGP", targets: ["FlowSpecBGP"]),
        .library(name: "FlowSpecFetcher", targets: ["FlowSpecFetcher"]),
        .library(name: "FlowSpecAgent", targets: ["FlowSpecAgent"]),
        .executable(name: "flowspec-nft", targets: ["flowspec-nft"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // The daemons' and apply's metrics: the API (the agent records through it), and the
        // Prometheus text format the CLI serves or writes (docs/metrics.md; with swift-atomics, the
        // three add ~MEASURED s to a clean debug build).
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // `swift package generate-documentation` (scripts/docs): a command plugin, built only when run.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // The flowspec model and the RFC 8955/8956 wire codec: pure Swift, no I/O, no C.
        .target(name: "FlowSpec"),
        // Readers and writers of route sets (canonical JSON, BGP messages, speakers' outputs).
        .target(name: "FlowSpecFormats", dependencies: ["FlowSpec"]),
        // Ordered routes -> nft IR, and the IR printed as `nft` text. Pure Swift.
        .target(name: "FlowSpecCompiler", dependencies: ["FlowSpec"]),
        // The one owner of the installed table: prepares routes, plans changes in place or a
        // replace, keeps the table's state between processes. Pure Swift; writes through a
        // `TableWriter` (FlowSpecNetlink's `NftConnection`).
        .target(name: "FlowSpecKeeper", dependencies: ["FlowSpec", "FlowSpecFormats", "FlowSpecCompiler"]),
        // The reverse direction: a firewall chain (nft IR read from the kernel, or iptables-save text) → routes.
        .target(name: "FlowSpecFetcher", dependencies: ["FlowSpec", "FlowSpecFormats", "FlowSpecCompiler"]),
        // Keeps the kernel in step with a route source: the daemon logic behind `watch` and `listen`.
        .target(name: "FlowSpecAgent", dependencies: [
            "FlowSpec", "FlowSpecFormats", "FlowSpecCompiler", "FlowSpecKeeper", "FlowSpecNetlink", "FlowSpecBGP",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // A receive-only BGP-4 speaker for the flowspec families (RFC 4271, 4760, 6793, 2918, 7606).
        .target(name: "FlowSpecBGP", dependencies: ["FlowSpec"]),
        // The system-library module over libnftnl + libmnl + the kernel's netfilter uapi.
        .systemLibrary(name: "CNftnl", path: "Modules/CNftnl", pkgConfig: "libnftnl",
                       providers: [.apt(["libnftnl-dev", "libmnl-dev"])]),
        // The only target that touches C: the IR sent to the kernel in one netlink batch.
        .target(name: "FlowSpecNetlink", dependencies: ["FlowSpecCompiler", "CNftnl"]),
        .executableTarget(name: "flowspec-nft", dependencies: [
            "FlowSpec", "FlowSpecFormats", "FlowSpecCompiler", "FlowSpecKeeper", "FlowSpecNetlink", "FlowSpecBGP", "FlowSpecFetcher", "FlowSpecAgent",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], plugins: ["VersionPlugin"]),
        // `buildVersion` for `flowspec-nft --version`, from scripts/version before every build.
        .plugin(name: "VersionPlugin", capability: .buildTool()),
        // Shared by the test targets: random routes and the RFC packet model (not a product).
        .target(name: "FlowSpecTestSupport", dependencies: ["FlowSpec", "FlowSpecCompiler"], path: "Tests/Support"),
        .testTarget(name: "FlowSpecTests", dependencies: ["FlowSpec", "FlowSpecTestSupport"]),
        .testTarget(name: "FlowSpecFetcherTests", dependencies: ["FlowSpec", "FlowSpecFormats", "FlowSpecCompiler", "FlowSpecFetcher", "FlowSpecNetlink", "FlowSpecTestSupport"]),
        .testTarget(name: "FlowSpecAgentTests", dependencies: ["FlowSpec", "FlowSpecFormats", "FlowSpecCompiler", "FlowSpecKeeper", "FlowSpecNetlink", "FlowSpecAgent", "FlowSpecTestSupport"]),
        .testTarget(name: "FlowSpecKeeperTests", dependencies: ["FlowSpec", "FlowSpecFormats", "FlowSpecCompiler", "FlowSpecKeeper", "FlowSpecTestSupport"]),
        .testTarget(name: "FlowSpecBGPTests", dependencies: ["FlowSpec", "FlowSpecBGP", "FlowSpecTestSupport"]),
        .testTarget(name: "FlowSpecFormatsTests", dependencies: ["FlowSpec", "FlowSpecFormats", "FlowSpecTestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "FlowSpecCompilerTests", dependencies: ["FlowSpec", "FlowSpecFormats", "FlowSpecCompiler", "FlowSpecKeeper", "FlowSpecNetlink", "FlowSpecAgent", "FlowSpecTestSupport"]),
        .testTarget(name: "FlowSpecNetlinkTests", dependencies: ["FlowSpec", "FlowSpecFormats", "FlowSpecCompiler", "FlowSpecKeeper", "FlowSpecNetlink", "FlowSpecTestSupport"]),
        // Runs the built `flowspec-nft` binary: CLI behaviour, and packets through a router namespace.
        .testTarget(name: "FlowSpecCLITests", dependencies: ["flowspec-nft", "FlowSpec", "FlowSpecFormats", "FlowSpecTestSupport"]),
    ]
)
