import FlowSpec
import FlowSpecFormats
import Foundation

/// Reads ExaBGP's JSON API stream: flowspec-nft runs as an ExaBGP API process (`process …
/// { run flowspec-nft watch --source exabgp; encoder json; }`), and ExaBGP writes one JSON object
/// per line on its standard input.
///
/// UPDATE lines are applied as they come (debounced by the agent). With `neighbor-changes;` in the
/// API block, a session going down is reported as a failed read (the table stays, fail-static)
/// and a session coming up as a resync: the routes held stay installed until the End-of-RIB of
/// their family, which drops those not announced again. End of input means ExaBGP is gone.
public struct ExaBGPSource: RouteSource {
    public let name = "exabgp"
    public let defaultDebounce: Duration = .milliseconds(200)
    /// Where the stream is read from: standard input for the real thing, a pipe in tests.
    public var fd: Int32

    public init(fd: Int32 = 0) { self.fd = fd }

    public func run(_ sink: any SourceSink) async {
        let (lines, continuation) = AsyncStream.makeStream(of: StreamLine.self)
        readLines(fd: fd, into: continuation) { "end of the ExaBGP API stream (ExaBGP stopped or closed the pipe)" }
        var lineNumber = 0
        for await event in lines {
            switch event {
            case .line(let text):
                lineNumber += 1
                for e in Self.events(text, lineNumber: lineNumber) { await sink.deliver(e) }
            case .ended(let why):
                await sink.deliver(.lost(why))
                return
            }
        }
    }

    /// What one line of the stream means to the agent.
    public static func events(_ line: String, lineNumber: Int) -> [SourceEvent] {
        let message = ExaBGPReader.readMessage(line, lineNumber: lineNumber)
        switch message.sessionState {
        case "up": return [.resync]
        case "down": return [.failed("line \(lineNumber): ExaBGP reports the BGP session down")]
        case .some: return []
        case nil: break
        }
        var events = [SourceEvent]()
        if !message.result.routes.isEmpty || !message.result.errors.isEmpty { events.append(.update(message.result)) }
        if let eor = message.endOfRIB { events.append(.endOfRIB(eor.family)) }
        return events
    }
}
