package dev.dmsg.cli;

import dev.dmsg.wire.DmsgProtocolException;
import dev.dmsg.wire.FrameDecoder;
import dev.dmsg.wire.FrameLog;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code dmsg frame ...}: tools on raw DMSG byte streams. */
@Command(name = "frame", mixinStandardHelpOptions = true, description = "Tools for raw DMSG byte streams.",
    subcommands = {FrameCommand.Decode.class})
final class FrameCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    @Command(name = "decode", mixinStandardHelpOptions = true,
        description = {
            "Prints every frame of a raw one-direction DMSG byte stream: one log line per frame, then its "
                + "decoded fields.",
            "Exit status 0 when every frame is valid; 1 at the first bad or truncated frame, with the "
                + "specific error; 2 when the file cannot be read."})
    static final class Decode implements Callable<Integer> {
        @Parameters(paramLabel = "FILE", description = "raw stream, e.g. a capture of one TCP direction")
        Path file;

        @Option(names = "--no-seq", description = "do not check the salt sequence (for a capture that starts mid-stream)")
        boolean noSeq;

        @Option(names = {"-q", "--quiet"}, description = "print only the frame lines, not the decoded fields")
        boolean quiet;

        @Override
        public Integer call() {
            return decode(file, !noSeq, quiet, System.out, System.err);
        }
    }

    static int decode(Path file, boolean checkSeq, boolean quiet, PrintStream out, PrintStream err) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            err.println("dmsg frame decode: cannot read " + file + ": " + e.getMessage());
            return 2;
        }
        ByteBuf in = Unpooled.wrappedBuffer(bytes);
        FrameDecoder decoder = new FrameDecoder(checkSeq);
        int frame = 0;
        while (in.isReadable()) {
            int at = in.readerIndex();
            Message m;
            try {
                m = decoder.decode(in);
            } catch (DmsgProtocolException e) {
                err.printf("frame %d @%d: %s error: %s%n", frame, at, e.kind(), e.getMessage());
                return 1;
            }
            if (m == null) {
                long need = FrameDecoder.frameBytesOf(in);
                err.printf("frame %d @%d: TRUNCATED error: stream ends after %d of %s bytes%n", frame, at,
                    in.readableBytes(), need < 0 ? "64 header" : String.valueOf(need));
                return 1;
            }
            try {
                out.printf("frame %d @%d: %s%n", frame, at, FrameLog.line(FrameLog.RECEIVED, m));
                if (!quiet) {
                    String f = FrameLog.fields(m);
                    if (!f.isEmpty()) {
                        for (String line : f.split("\n")) {
                            out.println("    " + line);
                        }
                    }
                }
            } finally {
                m.release();
            }
            frame++;
        }
        out.printf("%d frames, %d bytes, all valid%n", frame, bytes.length);
        return 0;
    }
}
