/// Named stateful objects (NFT_OBJECT_*).
public enum NftObjectType: UInt32, Sendable, Hashable {
    case counter = 1
    case quota = 2
    case limit = 4
}

public struct NftLimit: Sendable, Hashable {
    public enum Unit: UInt64, Sendable, Hashable {
        case second = 1, minute = 60, hour = 3600, day = 86400, week = 604800
    }
    public enum Kind: UInt32, Sendable, Hashable {
        case packets = 0 // NFT_LIMIT_PKTS
        case bytes = 1   // NFT_LIMIT_PKT_BYTES
    }
    /// Packets, or bytes, per `unit`.
    public var rate: UInt64
    public var unit: Unit
    public var burst: UInt32
    public var kind: Kind
    /// `limit rate over`: matches (and acts) only on traffic ABOVE the rate (NFT_LIMIT_F_INV).
    public var over: Bool

    public init(rate: UInt64, unit: Unit = .second, burst: UInt32 = 0, kind: Kind, over: Bool) {
        self.rate = rate; self.unit = unit; self.burst = burst; self.kind = kind; self.over = over
    }
}

public enum NftObject: Sendable, Hashable {
    case counter(name: String)
    case limit(name: String, NftLimit)

    public var name: String {
        switch self { case .counter(let n), .limit(let n, _): n }
    }

    public var type: NftObjectType {
        switch self { case .counter: .counter; case .limit: .limit }
    }
}
