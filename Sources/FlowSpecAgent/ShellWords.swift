/// Splits a command line the way a POSIX shell splits words: blanks separate words, single
/// quotes keep everything literally, double quotes keep blanks (a backslash there escapes
/// `"`, `\`, `$` and `` ` ``), a backslash outside quotes escapes the next character. No
/// expansion of any kind: `--vtysh "vtysh --vty_socket /run/frr -N 'site a'"` is four words.
public func shellWords(_ line: String) throws(SourceError) -> [String] {
    var words = [String]()
    var word = ""
    var inWord = false
    var quote: Character?
    var escaped = false
    for c in line {
        if escaped {
            if quote == "\"" && !"\"\\$`".contains(c) { word.append("\\") }
            word.append(c); escaped = false; inWord = true
            continue
        }
        switch (quote, c) {
        case ("'", "'"), ("\"", "\""): quote = nil
        case ("'", _): word.append(c)
        case ("\"", "\\"): escaped = true
        case ("\"", _): word.append(c)
        case (nil, "'"), (nil, "\""): quote = c; inWord = true
        case (nil, "\\"): escaped = true
        case (nil, " "), (nil, "\t"), (nil, "\n"):
            if inWord { words.append(word); word = ""; inWord = false }
        default: word.append(c); inWord = true
        }
    }
    if escaped { throw SourceError("command line ends with a lone backslash: \(line)") }
    if quote != nil { throw SourceError("unclosed quote in command line: \(line)") }
    if inWord { words.append(word) }
    if words.isEmpty { throw SourceError("empty command line") }
    return words
}
