package dev.dmsg.cli;

import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Compare;
import dev.dmsg.wire.qrm.Op;
import java.io.BufferedReader;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The text of {@code dmsg kv txn}, as etcdctl's interactive txn reads it: compare lines, an empty
 * line, success requests, an empty line, failure requests (to the end). A compare is
 * {@code value("KEY") = "V"}, {@code version("KEY") > "3"}, {@code create("KEY") = "0"},
 * {@code mod("KEY") < "10"} ({@code = != < >}), {@code lock("/vol/a") = "812"} (a fencing token,
 * docs/CAC.md §6: {@code = !=} only); a request is {@code put KEY VALUE},
 * {@code get KEY [--prefix]}, {@code del KEY [--prefix]}; a word may be double-quoted, with
 * {@code \"} and {@code \\} inside. Lines starting with {@code #} are skipped.
 */
final class TxnScript {
    private TxnScript() {}

    private static final Pattern COMPARE = Pattern.compile(
        "\\s*(value|version|create|mod|lock)\\s*\\(\\s*(\"(?:[^\"\\\\]|\\\\.)*\"|[^)\\s]+)\\s*\\)\\s*(=|!=|<|>)\\s*(.+?)\\s*");

    /**
     * Reads a whole script.
     *
     * @throws IllegalArgumentException naming the line and what is wrong with it
     */
    static Batch read(BufferedReader in) throws IOException {
        List<Compare> compares = new ArrayList<>();
        List<Op> success = new ArrayList<>();
        List<Op> failure = new ArrayList<>();
        int section = 0;
        int lineNo = 0;
        String line;
        while ((line = in.readLine()) != null) {
            lineNo++;
            if (line.isBlank()) {
                section = Math.min(section + 1, 3);
                continue;
            }
            if (line.trim().startsWith("#")) {
                continue;
            }
            try {
                switch (section) {
                    case 0 -> compares.add(compare(line));
                    case 1 -> success.add(op(line));
                    case 2 -> failure.add(op(line));
                    default -> throw new IllegalArgumentException("a fourth section: compares, success and failure only");
                }
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("line " + lineNo + ": " + e.getMessage() + ": " + line.trim());
            }
        }
        return new Batch(compares, success, failure);
    }

    static Compare compare(String line) {
        Matcher m = COMPARE.matcher(line);
        if (!m.matches()) {
            throw new IllegalArgumentException("expected TARGET(\"KEY\") OP \"VALUE\" with TARGET "
                + "value|version|create|mod|lock and OP = != < >");
        }
        Blob key = Blob.utf8(unquote(m.group(2)));
        Compare.Result r = switch (m.group(3)) {
            case "=" -> Compare.Result.EQUAL;
            case "!=" -> Compare.Result.NOT_EQUAL;
            case "<" -> Compare.Result.LESS;
            default -> Compare.Result.GREATER;
        };
        String operand = unquote(m.group(4));
        if (m.group(1).equals("value")) {
            return Compare.value(key, r, Blob.utf8(operand));
        }
        long n;
        try {
            n = Long.parseLong(operand);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(m.group(1) + " compares a number, not '" + operand + "'");
        }
        Compare.Target t = switch (m.group(1)) {
            case "version" -> Compare.Target.VERSION;
            case "create" -> Compare.Target.CREATE_REVISION;
            case "lock" -> Compare.Target.LOCK;
            default -> Compare.Target.MOD_REVISION;
        };
        if (t == Compare.Target.LOCK && r != Compare.Result.EQUAL && r != Compare.Result.NOT_EQUAL) {
            throw new IllegalArgumentException("lock compares a token with = or != only");
        }
        return Compare.number(t, key, r, n);
    }

    static Op op(String line) {
        List<String> w = words(line);
        if (w.isEmpty()) {
            throw new IllegalArgumentException("empty request");
        }
        String verb = w.get(0);
        switch (verb) {
            case "put":
                if (w.size() != 3) {
                    throw new IllegalArgumentException("put takes KEY VALUE");
                }
                return Op.put(Blob.utf8(w.get(1)), Blob.utf8(w.get(2)));
            case "get":
            case "del": {
                boolean prefix = w.size() == 3 && w.get(2).equals("--prefix");
                if (w.size() != 2 && !prefix) {
                    throw new IllegalArgumentException(verb + " takes KEY [--prefix]");
                }
                Blob key = Blob.utf8(w.get(1));
                if (verb.equals("get")) {
                    return prefix ? Op.getPrefix(key, 0) : Op.get(key);
                }
                return prefix ? Op.deletePrefix(key) : Op.delete(key);
            }
            default:
                throw new IllegalArgumentException("unknown request '" + verb + "' (put, get, del)");
        }
    }

    /** Splits on blanks, keeping double-quoted words whole. */
    static List<String> words(String line) {
        List<String> out = new ArrayList<>();
        int i = 0;
        int n = line.length();
        while (i < n) {
            char c = line.charAt(i);
            if (Character.isWhitespace(c)) {
                i++;
                continue;
            }
            if (c == '"') {
                StringBuilder b = new StringBuilder();
                i++;
                boolean closed = false;
                while (i < n) {
                    char d = line.charAt(i++);
                    if (d == '\\' && i < n) {
                        b.append(line.charAt(i++));
                    } else if (d == '"') {
                        closed = true;
                        break;
                    } else {
                        b.append(d);
                    }
                }
                if (!closed) {
                    throw new IllegalArgumentException("unclosed quote");
                }
                out.add(b.toString());
            } else {
                int s = i;
                while (i < n && !Character.isWhitespace(line.charAt(i))) {
                    i++;
                }
                out.add(line.substring(s, i));
            }
        }
        return out;
    }

    private static String unquote(String s) {
        String t = s.trim();
        if (t.startsWith("\"")) {
            List<String> w = words(t);
            if (w.size() != 1) {
                throw new IllegalArgumentException("text after the closing quote");
            }
            return w.get(0);
        }
        return t;
    }
}
