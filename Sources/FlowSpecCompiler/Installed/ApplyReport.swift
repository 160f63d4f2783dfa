/// What one committed batch cost.
public struct ApplyReport: Sendable, Hashable {
    /// Netlink messages in the batch, begin and end included.
    public var messages: Int
    /// Bytes sent in the one sendmsg.
    public var bytes: Int
    /// The ruleset generation the batch was made against (NFNL_BATCH_GENID).
    public var generation: UInt32
    /// Time spent building the messages.
    public var buildTime: Duration
    /// Time inside sendmsg plus reading the replies: the kernel's work.
    public var kernelTime: Duration

    public init(messages: Int, bytes: Int, generation: UInt32, buildTime: Duration, kernelTime: Duration) {
        self.messages = messages; self.bytes = bytes; self.generation = generation
        self.buildTime = buildTime; self.kernelTime = kernelTime
    }

    /// No batch: nothing was sent.
    public static func nothing(generation: UInt32) -> ApplyReport {
        ApplyReport(messages: 0, bytes: 0, generation: generation, buildTime: .zero, kernelTime: .zero)
    }
}
