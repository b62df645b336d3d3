package dev.dmsg.testkit.linear;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A history as text, one event a line in JSON (Jepsen's history file, as JSON lines), so a system
 * test can attach the history it failed on and a unit test can replay it:
 *
 * <pre>
 * {"type":"invoke","id":0,"client":1,"time":100,"key":"x","f":"cas","args":["a","b"]}
 * {"type":"ok","id":0,"client":1,"time":250,"result":true}
 * {"type":"fail","id":1,"client":2,"time":260}
 * {"type":"info","id":2,"client":3,"time":900}
 * </pre>
 *
 * {@code type} is {@code invoke}, {@code ok}, {@code fail} or {@code info} (outcome unknown);
 * {@code time} is in the history's clock's nanoseconds; values are strings, integers, booleans or
 * {@code null}. Invocation ids count from 0 in file order. Blank lines and lines starting with
 * {@code #} are comments. Reading rejects a bad line with an {@link IllegalArgumentException} that
 * names the line and the field; lines longer than {@value #MAX_LINE_CHARS} characters are refused
 * before they are held.
 */
public final class HistoryFile {
    /** The longest line read. */
    public static final int MAX_LINE_CHARS = 1 << 20;

    private static final Set<String> INVOKE_FIELDS = Set.of("type", "id", "client", "time", "key", "f", "args");
    private static final Set<String> OK_FIELDS = Set.of("type", "id", "client", "time", "result");
    private static final Set<String> END_FIELDS = Set.of("type", "id", "client", "time");

    private HistoryFile() {
    }

    /** The events as history-file text. */
    public static String format(List<History.Event> events) {
        StringBuilder sb = new StringBuilder(events.size() * 64);
        for (History.Event e : events) {
            sb.append("{\"type\":\"").append(e.type().word).append("\",\"id\":").append(e.id())
                .append(",\"client\":").append(e.client()).append(",\"time\":").append(e.timeNanos());
            if (e.type() == History.Event.Type.INVOKE) {
                sb.append(",\"key\":").append(JsonLine.quote(e.op().key()))
                    .append(",\"f\":").append(JsonLine.quote(e.op().f())).append(",\"args\":");
                JsonLine.append(sb, e.op().args());
            } else if (e.type() == History.Event.Type.OK) {
                sb.append(",\"result\":");
                JsonLine.append(sb, e.result());
            }
            sb.append("}\n");
        }
        return sb.toString();
    }

    /** Writes {@code history} to {@code file} (UTF-8), replacing it. */
    public static void write(History history, Path file) throws IOException {
        Files.writeString(file, format(history.events()), StandardCharsets.UTF_8);
    }

    /** Reads a history file. */
    public static History read(Path file) throws IOException {
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            return read(r);
        }
    }

    /** Parses history-file text. */
    public static History parse(String text) {
        try {
            return read(new StringReader(text));
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a StringReader does not throw
        }
    }

    /** Reads history-file text from {@code in}, which the caller closes. */
    public static History read(Reader in) throws IOException {
        BufferedReader r = in instanceof BufferedReader b ? b : new BufferedReader(in);
        List<History.Event> events = new ArrayList<>();
        StringBuilder line = new StringBuilder();
        int lineNo = 0;
        while (readLine(r, line, lineNo + 1)) {
            lineNo++;
            String text = line.toString().strip();
            if (text.isEmpty() || text.startsWith("#")) {
                continue;
            }
            try {
                events.add(event(JsonLine.parse(text)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("history line " + lineNo + ": " + e.getMessage(), e);
            }
        }
        try {
            return History.of(events);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("history: " + e.getMessage(), e);
        }
    }

    /** Reads one line into {@code line}; false at the end of input. Refuses a line over the limit. */
    private static boolean readLine(BufferedReader r, StringBuilder line, int lineNo) throws IOException {
        line.setLength(0);
        int c = r.read();
        if (c < 0) {
            return false;
        }
        while (c >= 0 && c != '\n') {
            if (line.length() == MAX_LINE_CHARS) {
                throw new IllegalArgumentException("history line " + lineNo + ": longer than " + MAX_LINE_CHARS + " chars");
            }
            line.append((char) c);
            c = r.read();
        }
        return true;
    }

    private static History.Event event(Map<String, Object> f) {
        String typeWord = field(f, "type", String.class);
        History.Event.Type type = null;
        for (History.Event.Type t : History.Event.Type.values()) {
            if (t.word.equals(typeWord)) {
                type = t;
            }
        }
        if (type == null) {
            throw new IllegalArgumentException("field \"type\": \"" + typeWord + "\" is not invoke, ok, fail or info");
        }
        Set<String> allowed = switch (type) {
            case INVOKE -> INVOKE_FIELDS;
            case OK -> OK_FIELDS;
            default -> END_FIELDS;
        };
        for (String name : f.keySet()) {
            if (!allowed.contains(name)) {
                throw new IllegalArgumentException("field \"" + name + "\": not a field of an " + typeWord + " event");
            }
        }
        int id = intField(f, "id");
        int client = intField(f, "client");
        long time = field(f, "time", Long.class);
        if (type == History.Event.Type.INVOKE) {
            List<?> args = field(f, "args", List.class);
            Op op = new Op(field(f, "key", String.class), field(f, "f", String.class), new ArrayList<>(args));
            return new History.Event(type, id, client, time, op, null);
        }
        Object result = null;
        if (type == History.Event.Type.OK) {
            if (!f.containsKey("result")) {
                throw new IllegalArgumentException("field \"result\": missing");
            }
            result = f.get("result");
            if (result instanceof List) {
                throw new IllegalArgumentException("field \"result\": an array is not a history value");
            }
        }
        return new History.Event(type, id, client, time, null, result);
    }

    private static <T> T field(Map<String, Object> f, String name, Class<T> type) {
        Object v = f.get(name);
        if (v == null) {
            throw new IllegalArgumentException("field \"" + name + "\": " + (f.containsKey(name) ? "null" : "missing"));
        }
        if (!type.isInstance(v)) {
            throw new IllegalArgumentException("field \"" + name + "\": " + v + " is not a " + type.getSimpleName());
        }
        return type.cast(v);
    }

    private static int intField(Map<String, Object> f, String name) {
        long v = field(f, name, Long.class);
        if (v < 0 || v > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("field \"" + name + "\": " + v + " out of range 0.." + Integer.MAX_VALUE);
        }
        return (int) v;
    }
}
