/// The flowspec NLRI codec (RFC 8955 §4, RFC 8956 §3).
///
/// Decoding keeps everything re-encoding needs to give back the received octets: each term's
/// value length (1/2/4/8), the `a` bit of a first term (which decoders must ignore but senders
/// may set), and whether a length used the 2-octet form. The only things not kept are those the
/// RFCs tell decoders to ignore: reserved operator bits (see `WireOptions`) and prefix pattern
/// padding bits beyond the prefix length.
public enum FlowNLRICodec {
    /// Decodes one NLRI body (the octets after its length) into components.
    /// Offsets in errors count from `body[0]` plus `baseOffset`.
    public static func decodeComponents(
        _ body: UnsafeRawBufferPointer, family: AddressFamily, baseOffset: Int = 0,
        options: WireOptions = .standard
    ) throws(WireError) -> [Component] {
        var c = WireCursor(body, base: baseOffset)
        return try decodeComponents(&c, family: family, options: options)
    }

    /// Decodes one NLRI body given as any byte collection.
    public static func decodeComponents(
        _ body: some Collection<UInt8>, family: AddressFamily, options: WireOptions = .standard
    ) throws(WireError) -> [Component] {
        try withRawBytes(body) { (p) throws(WireError) in
            try decodeComponents(p, family: family, options: options)
        }
    }

    /// Decodes a run of length-prefixed NLRIs, as in MP_REACH_NLRI / MP_UNREACH_NLRI.
    /// A malformed NLRI whose length is intact does not stop the others (RFC 7606 spirit);
    /// a length running past the end stops framing, and the rest is kept raw.
    public static func decodeList(
        _ bytes: UnsafeRawBufferPointer, family: AddressFamily, baseOffset: Int = 0,
        options: WireOptions = .standard
    ) -> NLRIList {
        var c = WireCursor(bytes, base: baseOffset)
        return decodeList(&c, family: family, options: options)
    }

    public static func decodeList(
        _ bytes: some Collection<UInt8>, family: AddressFamily, options: WireOptions = .standard
    ) -> NLRIList {
        // withRawBytes only throws what the body throws; this body throws nothing.
        (try? withRawBytes(bytes) { (p) throws(WireError) in
            decodeList(p, family: family, options: options)
        }) ?? NLRIList()
    }

    // MARK: - Internals over a cursor

    static func decodeList(_ c: inout WireCursor, family: AddressFamily, options: WireOptions) -> NLRIList {
        var list = NLRIList()
        while !c.isAtEnd {
            let start = c.index
            let startOffset = c.offset
            do throws(WireError) {
                let first = try c.u8(.nlriLength)
                var length = Int(first)
                var wide = false
                if first >= 0xf0 {
                    let second = try c.u8(.nlriLength)
                    length = Int(first & 0x0f) << 8 | Int(second)
                    wide = true
                }
                var body = try c.sub(length, .nlri)
                do throws(WireError) {
                    let comps = try decodeComponents(&body, family: family, options: options)
                    list.entries.append(NLRIEntry(offset: startOffset, wideLength: wide, content: .components(comps)))
                } catch {
                    let raw = [UInt8](body.bytes)
                    list.entries.append(NLRIEntry(offset: startOffset, wideLength: wide,
                                                  content: .malformed(body: raw, error: error)))
                }
            } catch {
                // Framing lost: keep the rest raw so the attribute still re-encodes as received.
                c.index = start
                list.unframed = c.rest()
                list.framingError = error
                break
            }
        }
        return list
    }

    static func decodeComponents(_ c: inout WireCursor, family: AddressFamily, options: WireOptions) throws(WireError) -> [Component] {
        guard !c.isAtEnd else { throw .emptyNLRI(offset: c.offset) }
        var out = [Component]()
        out.reserveCapacity(4)
        var previous: UInt8 = 0
        while !c.isAtEnd {
            let typeOffset = c.offset
            let t = try c.u8(.componentType)
            guard let type = ComponentType(rawValue: t), type.exists(in: family) else {
                throw .unknownComponentType(offset: typeOffset, type: t, family: family)
            }
            guard t > previous else { throw .componentOrder(offset: typeOffset, type: t, previous: previous) }
            previous = t
            switch type.kind {
            case .prefix:
                let p = try decodePrefix(&c, family: family)
                out.append(type == .destinationPrefix ? .destinationPrefix(p) : .sourcePrefix(p))
            case .numeric:
                var terms = [NumericTerm]()
                try decodeTerms(&c, type: t, reservedMask: 0x08, options: options) { op, v, len in
                    terms.append(NumericTerm(and: op & 0x40 != 0, lt: op & 0x04 != 0, gt: op & 0x02 != 0,
                                             eq: op & 0x01 != 0, value: v, valueLength: len))
                }
                out.append(.numeric(type, terms))
            case .bitmask:
                var terms = [BitmaskTerm]()
                try decodeTerms(&c, type: t, reservedMask: 0x0c, options: options) { op, v, len in
                    terms.append(BitmaskTerm(and: op & 0x40 != 0, not: op & 0x02 != 0, match: op & 0x01 != 0,
                                             value: v, valueLength: len))
                }
                out.append(.bitmask(type, terms))
            }
        }
        return out
    }

    /// Reads `{op, value}` pairs up to and including the one with the end-of-list bit.
    @inline(__always)
    static func decodeTerms(
        _ c: inout WireCursor, type: UInt8, reservedMask: UInt8, options: WireOptions,
        _ add: (UInt8, UInt64, UInt8) -> Void
    ) throws(WireError) {
        var first = true
        while true {
            if c.isAtEnd {
                // Nothing at all after the type is a truncation; after a term, a missing `e` bit.
                if first { throw .truncated(offset: c.offset, field: .operator) }
                throw .missingEndOfList(offset: c.offset, type: type)
            }
            let opOffset = c.offset
            let op = try c.u8(.operator)
            if options.rejectReservedOperatorBits && op & reservedMask != 0 {
                throw .reservedOperatorBits(offset: opOffset, operator: op, type: type)
            }
            let len = 1 << Int((op >> 4) & 0x03)
            let v = try c.uint(len, .value)
            add(op, v, UInt8(len))
            first = false
            if op & 0x80 != 0 { return }
        }
    }

    static func decodePrefix(_ c: inout WireCursor, family: AddressFamily) throws(WireError) -> FlowPrefix {
        let lengthOffset = c.offset
        let length = try c.u8(.prefixLength)
        guard Int(length) <= family.bitWidth else {
            throw .prefixTooLong(offset: lengthOffset, length: length, family: family)
        }
        var offset: UInt8 = 0
        if family == .ipv6 {
            let o = c.offset
            offset = try c.u8(.prefixOffset)
            guard offset <= length else { throw .offsetBeyondLength(offset: o, prefixOffset: offset, length: length) }
        }
        let bits = Int(length) - Int(offset)
        let n = (bits + 7) / 8
        guard c.remaining >= n else { throw .truncated(offset: c.offset, field: .prefixPattern) }
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<n {
            let b = UInt64(c.bytes[c.index + i])
            if i < 8 { high |= b << UInt64(56 - 8 * i) } else { low |= b << UInt64(56 - 8 * (i - 8)) }
        }
        c.index += n
        // The pattern holds bits [offset, length) moved to the front; put them back in place.
        let (h, l) = shiftRight(high, low, Int(offset))
        guard let p = FlowPrefix(address: IPAddress(family: family, high: h, low: l),
                                 length: Int(length), offset: Int(offset)) else {
            // Unreachable after the checks above; reported rather than trapped.
            throw .prefixTooLong(offset: lengthOffset, length: length, family: family)
        }
        return p
    }

    @inline(__always)
    static func shiftRight(_ high: UInt64, _ low: UInt64, _ n: Int) -> (UInt64, UInt64) {
        if n == 0 { return (high, low) }
        if n >= 128 { return (0, 0) }
        if n >= 64 { return (0, high >> UInt64(n - 64)) }
        return (high >> UInt64(n), low >> UInt64(n) | high << UInt64(64 - n))
    }

    // MARK: - Encoding

    /// Appends the NLRI length (1 octet below 240, else `0xfnnn`; 2 octets also when `wide`)
    /// and the body.
    public static func appendLengthPrefixed(_ body: [UInt8], wide: Bool = false, to out: inout [UInt8]) throws(WireError) {
        guard body.count <= 0xfff else { throw .nlriTooLong(length: body.count) }
        if body.count < 240 && !wide {
            out.append(UInt8(body.count))
        } else {
            out.append(0xf0 | UInt8(truncatingIfNeeded: body.count >> 8))
            out.append(UInt8(truncatingIfNeeded: body.count))
        }
        out += body
    }

    /// Appends one length-prefixed NLRI built from components.
    public static func appendNLRI(_ components: [Component], family: AddressFamily, wide: Bool = false,
                                  to out: inout [UInt8]) throws(WireError) {
        var body = [UInt8]()
        body.reserveCapacity(32)
        for comp in components { comp.encode(family: family, into: &body) }
        try appendLengthPrefixed(body, wide: wide, to: &out)
    }
}

/// One length-prefixed NLRI of a run, as decoded.
public struct NLRIEntry: Hashable, Sendable {
    public enum Content: Hashable, Sendable {
        case components([Component])
        /// The NLRI's length was intact but its body was not; the body is kept for re-encoding.
        case malformed(body: [UInt8], error: WireError)
    }

    /// Offset of the NLRI's length octet in the decoded buffer (0 for NLRIs built in code).
    public var offset: Int
    /// The length used the 2-octet form even though the body is shorter than 240 octets
    /// (RFC 8955 §4.1 allows it); kept so the NLRI re-encodes as received.
    public var wideLength: Bool
    public var content: Content

    public init(offset: Int = 0, wideLength: Bool = false, content: Content) {
        self.offset = offset; self.wideLength = wideLength; self.content = content
    }

    /// Equality and hashing compare what the NLRI is, not where it was found.
    public static func == (a: NLRIEntry, b: NLRIEntry) -> Bool {
        a.wideLength == b.wideLength && a.content == b.content
    }

    public func hash(into h: inout Hasher) {
        h.combine(wideLength)
        h.combine(content)
    }

    public var components: [Component]? {
        if case .components(let c) = content { return c }
        return nil
    }

    public var error: WireError? {
        if case .malformed(_, let e) = content { return e }
        return nil
    }
}

/// A decoded run of NLRIs: the entries in order, then any octets that could not be framed.
public struct NLRIList: Hashable, Sendable {
    public var entries: [NLRIEntry]
    /// Octets after the last framed NLRI (its length ran past the end of the run), kept raw.
    public var unframed: [UInt8]
    /// Why `unframed` could not be read, when it is not empty.
    public var framingError: WireError?

    public init(entries: [NLRIEntry] = [], unframed: [UInt8] = [], framingError: WireError? = nil) {
        self.entries = entries; self.unframed = unframed; self.framingError = framingError
    }

    /// A list of well-formed NLRIs.
    public init(_ nlris: [[Component]]) {
        self.init(entries: nlris.map { NLRIEntry(content: .components($0)) })
    }

    /// All errors: per-NLRI ones, then the framing one.
    public var errors: [WireError] {
        entries.compactMap(\.error) + (framingError.map { [$0] } ?? [])
    }

    /// Writes the run back: entries in order, then the unframed octets.
    public func encode(family: AddressFamily, into out: inout [UInt8]) throws(WireError) {
        for e in entries {
            switch e.content {
            case .components(let c): try FlowNLRICodec.appendNLRI(c, family: family, wide: e.wideLength, to: &out)
            case .malformed(let body, _): try FlowNLRICodec.appendLengthPrefixed(body, wide: e.wideLength, to: &out)
            }
        }
        out += unframed
    }
}
