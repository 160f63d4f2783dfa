import ArgumentParser

@main
struct FlowspecNft: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flowspec-nft",
        abstract: "Install BGP Flow Specification routes (RFC 8955/8956) as one nftables table.",
        discussion: """
        Reads the flowspec routes a BGP speaker holds, orders them (RFC 8955 §5.1, or by sequence \
        number), compiles them into one `inet` table and swaps that table into the kernel \
        atomically, in one netlink batch. Only the tool's own table is ever touched.

        Typical use on a switch:
          flowspec-nft watch --source frr          # follow FRR, keep the table in step
          flowspec-nft show                        # installed routes with counters
        """,
        version: buildVersion,
        subcommands: [Parse.self, Compile.self, Apply.self, Check.self, Show.self, Explain.self, Flush.self, Watch.self, Listen.self, Fetch.self, Bench.self]
    )
}
