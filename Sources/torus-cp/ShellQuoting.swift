import Glibc
import Torus

// How cp writes a file name in a message: gnulib's `quoteaf`, the "shell-escape-always" style.
// A name is always in single quotes; one that holds a single quote and nothing a shell would
// read differently in double quotes is in double quotes instead; a byte that cannot be printed
// (a control character, invalid UTF-8) is written as `$'\ooo'` (`\n`, `\t`... for the usual
// ones), between the single-quoted runs. So `a b` is 'a b', `it's` is "it's", a name with a
// newline 'a'$'\n''b'. Copied from gnulib's quotearg.c, rule for rule, so that messages about
// odd names are cp's too.

/// `path` as cp quotes it in messages.
func quoted(_ path: FilePath) -> String {
    path.withPlatformString { quoted(bytes: Array(UnsafeBufferPointer(start: $0, count: strlen($0))).map { UInt8(bitPattern: $0) }) }
}

/// `text` (an attribute name, say) as cp quotes it in messages.
func quoted(_ text: String) -> String { quoted(bytes: Array(text.utf8)) }

/// `bytes` as cp quotes them (see the comment at the top of this file).
func quoted(bytes: [UInt8]) -> String {
    var output: [UInt8] = [UInt8(ascii: "'")]
    var pendingEscapeEnd = false
    var sawSingleQuote = false
    var allDoubleQuotable = true
    let utf8 = localeIsUTF8
    func store(_ text: String) { output += Array(text.utf8) }
    func store(_ byte: UInt8) { output.append(byte) }
    var index = 0
    while index < bytes.count {
        let byte = bytes[index]
        var escaping = false
        var doubleQuotable = false
        // Opens a `$'...'` run (if not open) and writes the backslash of an escape.
        func startEscape() {
            escaping = true
            if !pendingEscapeEnd {
                store("'$'")
                pendingEscapeEnd = true
            }
            store(UInt8(ascii: "\\"))
        }
        func octal(_ byte: UInt8) {
            startEscape()
            store("\(byte >> 6)\((byte >> 3) & 7)\(byte & 7)")
        }
        var emitted: [UInt8] = [byte]
        switch byte {
        case 7, 8, 12, 11, 10, 13, 9:
            let letter: [UInt8: Character] = [7: "a", 8: "b", 12: "f", 11: "v", 10: "n", 13: "r", 9: "t"]
            startEscape()
            emitted = Array(String(letter[byte]!).utf8)
        case UInt8(ascii: "{"), UInt8(ascii: "}"):
            // Special only alone; gnulib counts them as double-quotable only then.
            doubleQuotable = bytes.count == 1
        case UInt8(ascii: "#"), UInt8(ascii: "~"):
            doubleQuotable = index == 0
        case UInt8(ascii: " "):
            doubleQuotable = true
        case UInt8(ascii: "'"):
            sawSingleQuote = true
            doubleQuotable = true
            store("'\\'")
            pendingEscapeEnd = false
        case UInt8(ascii: "%"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "/"),
            UInt8(ascii: "0")...UInt8(ascii: ":"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "]"), UInt8(ascii: "_"),
            UInt8(ascii: "a")...UInt8(ascii: "z"):
            doubleQuotable = true
        case 0x21...0x7e:
            // Shell specials (! " $ & ( ) * ; < = > [ ^ ` | ? \) and @: as they are.
            doubleQuotable = byte == UInt8(ascii: "@")
        case 0x80...0xff where utf8:
            let length = printableSequenceLength(bytes, at: index)
            if length > 0 {
                doubleQuotable = true
                emitted = Array(bytes[index..<index + length])
                index += length - 1
            } else {
                octal(byte)
                emitted = []
            }
        default:
            // Other control characters, DEL, and any byte past ASCII outside UTF-8.
            octal(byte)
            emitted = []
        }
        if !emitted.isEmpty || !escaping {
            // Closes a `$'...'` run before a plain character.
            if pendingEscapeEnd && !escaping {
                store("''")
                pendingEscapeEnd = false
            }
            output += emitted
        }
        if !doubleQuotable { allDoubleQuotable = false }
        index += 1
    }
    if sawSingleQuote && allDoubleQuotable {
        return "\"" + String(decoding: bytes, as: UTF8.self) + "\""
    }
    store(UInt8(ascii: "'"))
    return String(decoding: output, as: UTF8.self)
}

/// The length of the printable UTF-8 character at `index` (2 to 4 bytes), or 0 if the bytes
/// there are not one (invalid, cut short, or a C1 control character).
private func printableSequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
    let lead = bytes[index]
    let length = lead >= 0xf0 && lead <= 0xf4 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 && lead < 0xe0 ? 2 : 0
    guard length > 0, index + length <= bytes.count else { return 0 }
    var scalar = UInt32(lead) & (length == 2 ? 0x1f : length == 3 ? 0x0f : 0x07)
    for byte in bytes[(index + 1)..<(index + length)] {
        guard byte & 0xc0 == 0x80 else { return 0 }
        scalar = scalar << 6 | UInt32(byte & 0x3f)
    }
    let smallest: UInt32 = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000
    guard scalar >= smallest, scalar <= 0x10ffff, !(0xd800...0xdfff).contains(scalar), let character = Unicode.Scalar(scalar) else { return 0 }
    // C1 controls and unassigned code points do not print (iswprint).
    guard scalar >= 0xa0, character.properties.generalCategory != .unassigned, character.properties.generalCategory != .control else { return 0 }
    return length
}

/// Whether cp would read names as UTF-8: its locale's character type (LC_ALL, else LC_CTYPE,
/// else LANG) names UTF-8. Otherwise (the C locale) every byte past ASCII is unprintable to it.
let localeIsUTF8: Bool = {
    let names: [String] = ["LC_ALL", "LC_CTYPE", "LANG"]
    let values = names.compactMap { name -> String? in getenv(name).map { String(cString: $0) } }
    let lowered = (values.first { !$0.isEmpty } ?? "").lowercased()
    return lowered.contains("utf-8") || lowered.contains("utf8")
}()
