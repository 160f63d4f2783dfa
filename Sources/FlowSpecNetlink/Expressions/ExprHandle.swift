import CNftnl
import FlowSpecCompiler

/// A borrowed libnftnl expression with typed accessors. Attribute ids are libnftnl's
/// NFTNL_EXPR_* constants; scalars are host order (libnftnl converts), data is raw bytes.
struct Expr {
    let raw: OpaquePointer

    func set(_ attr: Int, u8 value: UInt8) { nftnl_expr_set_u8(raw, UInt16(attr), value) }
    func set(_ attr: Int, u16 value: UInt16) { nftnl_expr_set_u16(raw, UInt16(attr), value) }
    func set(_ attr: Int, u32 value: UInt32) { nftnl_expr_set_u32(raw, UInt16(attr), value) }
    func set(_ attr: Int, u64 value: UInt64) { nftnl_expr_set_u64(raw, UInt16(attr), value) }
    func set(_ attr: Int, string value: String) { _ = nftnl_expr_set_str(raw, UInt16(attr), value) }
    func set(_ attr: Int, register: NftRegister) { set(attr, u32: register.rawValue) }
    func set(_ attr: Int, bytes: [UInt8]) {
        bytes.withUnsafeBytes { _ = nftnl_expr_set(raw, UInt16(attr), $0.baseAddress, UInt32($0.count)) }
    }

    func has(_ attr: Int) -> Bool { nftnl_expr_is_set(raw, UInt16(attr)) }
    func u8(_ attr: Int) -> UInt8 { nftnl_expr_get_u8(raw, UInt16(attr)) }
    func u16(_ attr: Int) -> UInt16 { nftnl_expr_get_u16(raw, UInt16(attr)) }
    func u32(_ attr: Int) -> UInt32 { nftnl_expr_get_u32(raw, UInt16(attr)) }
    func u64(_ attr: Int) -> UInt64 { nftnl_expr_get_u64(raw, UInt16(attr)) }
    func register(_ attr: Int) -> NftRegister { NftRegister(rawValue: u32(attr)) }
    func string(_ attr: Int) -> String? {
        guard has(attr), let text = nftnl_expr_get_str(raw, UInt16(attr)) else { return nil }
        return String(cString: text)
    }
    func bytes(_ attr: Int) -> [UInt8] {
        var length: UInt32 = 0
        guard has(attr), let data = nftnl_expr_get(raw, UInt16(attr), &length) else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: Int(length)))
    }

    /// A decode failure naming this expression kind.
    func invalid(_ reason: String) -> NetlinkError {
        .undecodable(object: "expression \(name)", reason: reason)
    }

    var name: String {
        nftnl_expr_get_str(raw, UInt16(NFTNL_EXPR_NAME)).map { String(cString: $0) } ?? "?"
    }
}

/// Kernel verdict codes <-> `NftVerdict`; shared by immediates and verdict-map elements.
extension NftVerdict {
    init(code: Int32, chain: String?) throws(NetlinkError) {
        switch code {
        case 0: self = .drop
        case 1: self = .accept
        case -1: self = .continue
        case -5: self = .return
        case -3, -4:
            guard let chain else { throw .undecodable(object: "verdict", reason: "jump/goto without a chain") }
            self = code == -3 ? .jump(chain) : .goto(chain)
        default: throw .undecodable(object: "verdict", reason: "unsupported verdict code \(code)")
        }
    }
}
