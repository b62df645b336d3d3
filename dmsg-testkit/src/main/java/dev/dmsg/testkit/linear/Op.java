package dev.dmsg.testkit.linear;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * What a client asked for, before it knows the answer (Jepsen's {@code :f} and {@code :value}):
 * the key it touches, a function name the model knows ({@code read}, {@code write}, {@code cas}
 * for {@link RegisterModel}) and its arguments. Arguments and results are values a history file
 * can hold: {@link String}, {@link Long} (an {@link Integer} is widened), {@link Boolean} or
 * {@code null} (absent).
 */
public record Op(String key, String f, List<Object> args) {
    /** Checks the fields and copies {@code args}, widening integers so that {@code 1} equals {@code 1L}. */
    public Op {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(f, "f");
        if (f.isEmpty()) {
            throw new IllegalArgumentException("op f: empty");
        }
        List<Object> copy = new ArrayList<>(args.size());
        for (int i = 0; i < args.size(); i++) {
            copy.add(value(args.get(i), "op " + f + " args[" + i + "]"));
        }
        args = Collections.unmodifiableList(copy);
    }

    /** An op with the given arguments. */
    public static Op of(String key, String f, Object... args) {
        return new Op(key, f, Arrays.asList(args));
    }

    /** Argument {@code i}. */
    public Object arg(int i) {
        return args.get(i);
    }

    /** {@code v} as a value a history can hold, or an error naming {@code field}. */
    static Object value(Object v, String field) {
        if (v == null || v instanceof String || v instanceof Long || v instanceof Boolean) {
            return v;
        }
        if (v instanceof Integer i) {
            return i.longValue();
        }
        throw new IllegalArgumentException(field + ": a " + v.getClass().getSimpleName()
            + " is not a history value (String, Long, Boolean or null)");
    }

    /** {@code f(arg, …)} with strings quoted, as the checker prints it. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(f).append('(');
        for (int i = 0; i < args.size(); i++) {
            sb.append(i == 0 ? "" : ", ").append(show(args.get(i)));
        }
        return sb.append(')').toString();
    }

    /** A value as the checker prints it: strings quoted, absent as {@code nil}. */
    static String show(Object v) {
        if (v == null) {
            return "nil";
        }
        if (v instanceof String s) {
            return JsonLine.quote(s);
        }
        return v.toString();
    }
}
