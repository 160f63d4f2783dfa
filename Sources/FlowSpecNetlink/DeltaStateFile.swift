import FlowSpecCompiler

/// A `TableState` as text, so that one-shot `apply` runs can hand the state of the table they
/// committed to the next run (reading 100k rules back through netlink takes seconds: the
/// kernel's rule dump restarts its walk of the chain for every 32 KiB reply).
///
/// The reader trusts the file only as far as the caller checks it: the state records the ruleset
/// generation right after its commit, and a delta batch carries that generation, so the kernel
/// refuses it if anything changed since.
extension TableState {
    public func serialized() -> String {
        String(decoding: serializedBytes(), as: UTF8.self)
    }

    /// `serialized()` as UTF-8, built in one buffer (a line per route: 100k–1M lines).
    public func serializedBytes() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(256 + routes.count * 96)
        func put(_ s: String) { out.append(contentsOf: s.utf8) }
        func putHex(_ v: UInt64) {
            for shift in stride(from: 60, through: 0, by: -4) {
                let d = UInt8((v >> UInt64(shift)) & 0xf)
                out.append(d < 10 ? 0x30 + d : 0x57 + d)
            }
        }
        func putDecimal(_ v: UInt64) {
            if v == 0 { out.append(0x30); return }
            var digits = [UInt8](), x = v
            while x > 0 { digits.append(0x30 + UInt8(x % 10)); x /= 10 }
            out.append(contentsOf: digits.reversed())
        }
        put("flowspec-nft-state 1\n")
        put("table \(family.rawValue) \(table)\nchain \(ContentSetNames.hex(chainDigest)) \(chain)\ngeneration \(generation)\n")
        for s in sets.sorted() { put("set \(s)\n") }
        for (name, o) in objects.sorted(by: { $0.key < $1.key }) {
            put("object \(o.type.rawValue) \(ContentSetNames.hex(o.digest)) \(name)\n")
        }
        for r in routes {
            put("route ")
            putHex(r.digest)
            out.append(0x20)
            put(r.identity)
            out.append(0x20)
            for (i, h) in r.handles.enumerated() {
                if i > 0 { out.append(0x2c) }
                putDecimal(h)
            }
            out.append(0x0a)
        }
        return out
    }

    /// Nil for text that is not a complete state (any malformed line).
    public init?(serialized text: Substring) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)[...]
        guard lines.popFirst() == "flowspec-nft-state 1" else { return nil }
        var table: String?, family: NftFamily?, chain: String?, chainDigest: UInt64?, generation: UInt32?
        var sets: Set<String> = [], objects: [String: ObjectEntry] = [:], routes: [Route] = []
        for line in lines {
            let f = line.split(separator: " ", maxSplits: 3)
            switch f.first {
            case "table" where f.count == 3:
                family = UInt8(f[1]).flatMap(NftFamily.init(rawValue:)); table = String(f[2])
            case "chain" where f.count == 3:
                chainDigest = UInt64(f[1], radix: 16); chain = String(f[2])
            case "generation" where f.count == 2: generation = UInt32(f[1])
            case "set" where f.count == 2: sets.insert(String(f[1]))
            case "object" where f.count == 4:
                guard let t = UInt32(f[1]).flatMap(NftObjectType.init(rawValue:)), let d = UInt64(f[2], radix: 16) else { return nil }
                objects[String(f[3])] = ObjectEntry(type: t, digest: d)
            case "route" where f.count == 4:
                guard let d = UInt64(f[1], radix: 16) else { return nil }
                var handles: [UInt64] = []
                for h in f[3].split(separator: ",") { guard let v = UInt64(h) else { return nil }; handles.append(v) }
                routes.append(Route(identity: String(f[2]), digest: d, handles: handles))
            default: return nil
            }
        }
        guard let table, let family, let chain, let chainDigest, let generation else { return nil }
        self.init(table: table, family: family, chain: chain, chainDigest: chainDigest, routes: routes,
                  sets: sets, objects: objects, generation: generation)
    }
}
