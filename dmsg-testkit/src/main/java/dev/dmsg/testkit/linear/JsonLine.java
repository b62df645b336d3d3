package dev.dmsg.testkit.linear;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The little JSON a history file needs, without a JSON library (dmsg-testkit depends on none):
 * one flat object a line whose values are strings, integers, booleans, null, or arrays of those.
 * Anything else is an {@link IllegalArgumentException} saying where.
 */
final class JsonLine {
    private final String s;
    private int pos;

    private JsonLine(String s) {
        this.s = s;
    }

    /** The fields of the object on {@code line}, in order; a field given twice is an error. */
    static Map<String, Object> parse(String line) {
        JsonLine p = new JsonLine(line);
        Map<String, Object> fields = new LinkedHashMap<>();
        p.expect('{');
        if (!p.peekIs('}')) {
            do {
                String name = p.string();
                p.expect(':');
                Object v = p.value(true);
                if (fields.containsKey(name)) {
                    throw new IllegalArgumentException("field \"" + name + "\" given twice");
                }
                fields.put(name, v);
            } while (p.accept(','));
        }
        p.expect('}');
        p.skipSpace();
        if (p.pos != line.length()) {
            throw p.error("text after the object");
        }
        return fields;
    }

    /** {@code v} as JSON: a string quoted and escaped, a list as an array. */
    static void append(StringBuilder sb, Object v) {
        if (v instanceof String str) {
            sb.append(quote(str));
        } else if (v instanceof List<?> list) {
            sb.append('[');
            for (int i = 0; i < list.size(); i++) {
                if (i > 0) {
                    sb.append(',');
                }
                append(sb, list.get(i));
            }
            sb.append(']');
        } else {
            sb.append(v); // Long, Boolean, null
        }
    }

    static String quote(String str) {
        StringBuilder sb = new StringBuilder(str.length() + 2).append('"');
        for (int i = 0; i < str.length(); i++) {
            char c = str.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }

    private Object value(boolean arrayAllowed) {
        skipSpace();
        if (pos >= s.length()) {
            throw error("a value expected, the line ends");
        }
        char c = s.charAt(pos);
        if (c == '"') {
            return string();
        }
        if (c == '[') {
            if (!arrayAllowed) {
                throw error("nested array");
            }
            pos++;
            List<Object> items = new ArrayList<>();
            if (!peekIs(']')) {
                do {
                    items.add(value(false));
                } while (accept(','));
            }
            expect(']');
            return Collections.unmodifiableList(items);
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            int start = pos++;
            while (pos < s.length() && Character.isDigit(s.charAt(pos))) {
                pos++;
            }
            if (pos < s.length() && ".eE".indexOf(s.charAt(pos)) >= 0) {
                String text = s.substring(start, pos + 1);
                pos = start; // point at the number
                throw error("not an integer: " + text + "…");
            }
            try {
                return Long.parseLong(s.substring(start, pos));
            } catch (NumberFormatException e) {
                String text = s.substring(start, pos);
                pos = start;
                throw error("not an integer of 64 bits: " + text);
            }
        }
        for (String word : new String[] {"true", "false", "null"}) {
            if (s.startsWith(word, pos)) {
                pos += word.length();
                return word.equals("null") ? null : Boolean.valueOf(word);
            }
        }
        throw error("unexpected '" + c + "'");
    }

    private String string() {
        expect('"');
        StringBuilder sb = new StringBuilder();
        while (true) {
            if (pos >= s.length()) {
                throw error("unterminated string");
            }
            char c = s.charAt(pos++);
            if (c == '"') {
                return sb.toString();
            }
            if (c != '\\') {
                sb.append(c);
                continue;
            }
            if (pos >= s.length()) {
                throw error("unterminated escape");
            }
            char e = s.charAt(pos++);
            switch (e) {
                case '"', '\\', '/' -> sb.append(e);
                case 'n' -> sb.append('\n');
                case 'r' -> sb.append('\r');
                case 't' -> sb.append('\t');
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'u' -> {
                    if (pos + 4 > s.length()) {
                        throw error("short \\u escape");
                    }
                    try {
                        sb.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
                    } catch (NumberFormatException ex) {
                        throw error("bad \\u escape " + s.substring(pos, pos + 4));
                    }
                    pos += 4;
                }
                default -> throw error("bad escape \\" + e);
            }
        }
    }

    private void skipSpace() {
        while (pos < s.length() && (s.charAt(pos) == ' ' || s.charAt(pos) == '\t')) {
            pos++;
        }
    }

    private boolean peekIs(char c) {
        skipSpace();
        return pos < s.length() && s.charAt(pos) == c;
    }

    private boolean accept(char c) {
        if (peekIs(c)) {
            pos++;
            return true;
        }
        return false;
    }

    private void expect(char c) {
        if (!accept(c)) {
            throw error("'" + c + "' expected");
        }
    }

    private IllegalArgumentException error(String what) {
        return new IllegalArgumentException("column " + (pos + 1) + ": " + what);
    }
}
