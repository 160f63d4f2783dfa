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
        var out = "flowspec-nft-state 2\n"
        out += "table \(family.rawValue) \(table)\nchain \(ContentSetNames.hex(chainDigest)) \(chain)\ngeneration \(generation)\n"
        for s in sets.sorted() { out += "set \(s)\n" }
        for (name, o) in objects.sorted(by: { $0.key < $1.key }) {
            out += "object \(o.type.rawValue) \(ContentSetNames.hex(o.digest)) \(name)\n"
        }
        for r in routes {
            // The identity last: a merged rule's is `merge <set>`, with a space.
            out += "route \(ContentSetNames.hex(r.digest)) " + r.handles.map { String($0) }.joined(separator: ",") + " \(r.identity)\n"
        }
        for (name, set) in mergeSets.sorted(by: { $0.key < $1.key }) {
            out += "mset \(ContentSetNames.hex(set.definition)) \(name)\n"
            for e in set.elements {
                out += "e \(ContentSetNames.hex(e.digest)) \(Self.hex(e.key)) " + (e.keyEnd.map(Self.hex) ?? "-") + "\n"
            }
        }
        return out
    }

    private static let digits = Array("0123456789abcdef".utf8)

    static func hex(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xf)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func bytes(hex: Substring) -> [UInt8]? {
        let u = Array(hex.utf8)
        guard u.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            default: nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let h = nibble(u[i]), let l = nibble(u[i + 1]) else { return nil }
            out.append(h << 4 | l); i += 2
        }
        return out
    }

    /// Nil for text that is not a complete state (any malformed line).
    public init?(serialized text: Substring) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)[...]
        guard lines.popFirst() == "flowspec-nft-state 2" else { return nil }
        var table: String?, family: NftFamily?, chain: String?, chainDigest: UInt64?, generation: UInt32?
        var sets: Set<String> = [], objects: [String: ObjectEntry] = [:], routes: [Route] = []
        var mergeSets: [String: MergeSet] = [:]
        var current: String?
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
                for h in f[2].split(separator: ",") { guard let v = UInt64(h) else { return nil }; handles.append(v) }
                routes.append(Route(identity: String(f[3]), digest: d, handles: handles))
            case "mset" where f.count == 3:
                guard let d = UInt64(f[1], radix: 16) else { return nil }
                current = String(f[2])
                mergeSets[String(f[2])] = MergeSet(definition: d, elements: [])
            case "e" where f.count == 4:
                guard let name = current, let d = UInt64(f[1], radix: 16), let key = Self.bytes(hex: f[2]) else { return nil }
                var keyEnd: [UInt8]?
                if f[3] != "-" { guard let k = Self.bytes(hex: f[3]) else { return nil }; keyEnd = k }
                mergeSets[name]!.elements.append(Element(key: key, keyEnd: keyEnd, digest: d))
            default: return nil
            }
        }
        guard let table, let family, let chain, let chainDigest, let generation else { return nil }
        self.init(table: table, family: family, chain: chain, chainDigest: chainDigest, routes: routes,
                  sets: sets, objects: objects, mergeSets: mergeSets, generation: generation)
    }
}
