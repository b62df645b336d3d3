package dev.dmsg.bench.driver;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** One fio run with the nbd engine, its JSON output parsed into a sample. */
final class FioRunner {
    private FioRunner() {
    }

    static BlkSample run(BlkJob job, String uri, double rampSeconds, double runSeconds, Path scratch) throws Exception {
        Path json = Files.createTempFile(scratch, "fio-", ".json");
        Path log = Files.createTempFile(scratch, "fio-", ".log");
        List<String> cmd = List.of("fio", "--name=" + job.id(), "--ioengine=nbd", "--uri=" + uri, "--rw=" + job.fioRw(),
            "--bs=" + job.blockBytes(), "--iodepth=" + job.queueDepth(), "--numjobs=1", "--time_based",
            "--runtime=" + Math.max(1, Math.round(runSeconds * 1000)) + "ms",
            "--ramp_time=" + Math.round(rampSeconds * 1000) + "ms", "--output-format=json", "--output=" + json);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
            .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("LC_ALL", "C");
        Process p = pb.start();
        try {
            long limit = (long) ((rampSeconds + runSeconds) * 1000) + 60_000;
            if (!p.waitFor(limit, TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new IOException("fio did not finish within " + limit / 1000 + " s: " + String.join(" ", cmd));
            }
            String text = Files.readString(json, StandardCharsets.UTF_8);
            if (p.exitValue() != 0 || text.indexOf('{') < 0) {
                throw new IOException("fio exited " + p.exitValue() + ": " + String.join(" ", cmd) + "\n"
                    + Files.readString(log, StandardCharsets.UTF_8) + text);
            }
            return parse(new ObjectMapper().readTree(text.substring(text.indexOf('{'))), job);
        } finally {
            Files.deleteIfExists(json);
            Files.deleteIfExists(log);
        }
    }

    /** fio's {@code --output-format=json}: the job's read or write section. */
    static BlkSample parse(JsonNode root, BlkJob job) throws IOException {
        JsonNode j = root.path("jobs").path(0);
        if (j.path("error").asInt(0) != 0) {
            throw new IOException("fio job " + job.id() + " reported error " + j.path("error").asInt());
        }
        JsonNode io = j.path(job.writes() ? "write" : "read");
        if (io.isMissingNode() || io.path("total_ios").asLong(0) == 0) {
            throw new IOException("fio job " + job.id() + " did no I/O: " + j);
        }
        JsonNode pct = io.path("clat_ns").path("percentile");
        double cores = (j.path("usr_cpu").asDouble() + j.path("sys_cpu").asDouble()) / 100;
        return new BlkSample(io.path("iops").asDouble(), io.path("bw_bytes").asDouble() / 1e6,
            pct.path("50.000000").asDouble(Double.NaN) / 1e3, pct.path("99.000000").asDouble(Double.NaN) / 1e3,
            Map.of("fio", cores));
    }

    /** fio's version line, for the report header. */
    static String version() {
        try {
            Process v = new ProcessBuilder("fio", "--version").redirectErrorStream(true).start();
            String s = new String(v.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            v.waitFor(5, TimeUnit.SECONDS);
            return s;
        } catch (IOException | InterruptedException e) {
            return "?";
        }
    }
}
