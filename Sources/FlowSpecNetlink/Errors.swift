import CNftnl
import Glibc

/// Where in a batch something went wrong: the object a netlink message carried. Built from the
/// sequence-number record kept for every message, so the kernel's answer names the set, chain or
/// rule (with its comment, the route identity) rather than a bare sequence number.
public enum BatchObject: Sendable, Hashable, CustomStringConvertible {
    /// The batch itself (batch begin: permission, generation check, or the commit phase).
    case batch
    case table(String)
    case set(String)
    /// Elements of a set: the index (into `NftSet.elements`) of the element at fault when the
    /// kernel's extended ack pointed at one, otherwise the range the message carried.
    case setElements(set: String, elements: Range<Int>, element: Int?)
    case object(String)
    case chain(String)
    /// A rule: its chain, its index within the chain, and its comment (the route identity).
    case rule(chain: String, index: Int, comment: String?)

    public var description: String {
        switch self {
        case .batch: "batch"
        case .table(let n): "table \(n)"
        case .set(let n): "set \(n)"
        case .setElements(let s, let r, let e):
            if let e { "element \(e) of set \(s)" } else { "elements \(r.lowerBound)..<\(r.upperBound) of set \(s)" }
        case .object(let n): "object \(n)"
        case .chain(let n): "chain \(n)"
        case .rule(let c, let i, let comment):
            "rule \(i) of chain \(c)" + (comment.map { " (\($0))" } ?? "")
        }
    }
}

/// One error the kernel reported for one message of a batch.
public struct KernelFault: Sendable, Hashable, CustomStringConvertible {
    /// The positive errno value.
    public var errno: Int32
    public var object: BatchObject
    /// For a rule, the index of the expression the extended ack pointed into.
    public var expressionIndex: Int?
    /// The kernel's own text (NLMSGERR_ATTR_MSG), when it gave one.
    public var kernelMessage: String?

    public init(errno: Int32, object: BatchObject, expressionIndex: Int? = nil, kernelMessage: String? = nil) {
        self.errno = errno; self.object = object; self.expressionIndex = expressionIndex
        self.kernelMessage = kernelMessage
    }

    public var errnoText: String { errnoDescription(errno) }

    public var description: String {
        var text = "\(object)"
        if let expressionIndex { text += ", expression \(expressionIndex)" }
        text += ": \(errnoText)"
        if let kernelMessage { text += " (\(kernelMessage))" }
        return text
    }
}

/// Everything the netlink backend can fail with. The CLI decides how to print these.
public enum NetlinkError: Error, Sendable, Hashable, CustomStringConvertible {
    /// EPERM from the kernel or from namespace creation: the process lacks CAP_NET_ADMIN.
    case permissionDenied(operation: String)
    /// A socket or system call failed outside any batch.
    case system(call: String, errno: Int32)
    /// The kernel rejected the batch; nothing was committed and the old ruleset stands.
    case rejected([KernelFault])
    /// The ruleset changed between reading the generation and committing (ERESTART); nothing was
    /// committed. The caller may read again and retry.
    case generationChanged(expected: UInt32)
    /// No acknowledgement and no error came back (e.g. lost to ENOBUFS): the outcome is unknown.
    case unacknowledged(detail: String)
    /// The table cannot be expressed in netlink as given.
    case unencodable(object: BatchObject, reason: String)
    /// Something the kernel returned could not be decoded into the IR.
    case undecodable(object: String, reason: String)
    /// The kernel refused a policy-routing request (a rule, a route, a lookup): what was asked, and why.
    case routing(operation: String, errno: Int32)
    /// Another writer committed during every one of `attempts` reads of a table (for
    /// `NftConnection.consistentReadTimeout`): no consistent copy was read.
    case changedWhileReading(attempts: Int)

    public var description: String {
        switch self {
        case .permissionDenied(let op):
            "\(op): permission denied; this needs CAP_NET_ADMIN (run as root or grant the capability)"
        case .system(let call, let e): "\(call): \(errnoDescription(e))"
        case .rejected(let faults):
            "the kernel rejected the batch, nothing was changed: " + faults.map(\.description).joined(separator: "; ")
        case .generationChanged(let g):
            "the ruleset changed since generation \(g) was read; nothing was changed, retry"
        case .unacknowledged(let d): "no acknowledgement from the kernel, outcome unknown: \(d)"
        case .unencodable(let o, let r): "\(o) cannot be encoded: \(r)"
        case .undecodable(let o, let r): "cannot decode \(o): \(r)"
        case .routing(let op, let e): "\(op): \(errnoDescription(e))"
        case .changedWhileReading(let n):
            "the ruleset changed during each of \(n) reads of the table (another writer is committing); read again later"
        }
    }

    /// A failed system call: EPERM becomes `permissionDenied`.
    static func call(_ name: String, _ code: Int32 = Glibc.errno) -> NetlinkError {
        code == EPERM || code == EACCES ? .permissionDenied(operation: name) : .system(call: name, errno: code)
    }
}

func errnoDescription(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text) + " (errno \(code))"
}

extension NetlinkError {
    /// The reason, for the operator, when the kernel refused a base chain's hardware offload
    /// (EOPNOTSUPP on the chain): a driver of `devices` cannot run nftables rules in hardware.
    /// Nil for any other error. The rules' own errors that follow it only echo it.
    public func offloadRefusal(devices: [String]) -> String? {
        guard case .rejected(let faults) = self,
              let fault = faults.first(where: { if case .chain = $0.object { $0.errno == EOPNOTSUPP } else { false } }) else { return nil }
        return "--offload: the kernel refused to run \(fault.object) in hardware on \(devices.joined(separator: ", ")) (\(fault.errnoText)): "
            + "the driver of a device there cannot offload nftables rules (veth and most virtual devices cannot; "
            + "`ethtool -k DEV` shows hw-tc-offload)"
    }
}
