package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Compare;
import dev.dmsg.wire.qrm.Op;
import java.io.BufferedReader;
import java.io.StringReader;
import org.junit.jupiter.api.Test;

/** {@code dmsg kv txn} reads etcdctl's interactive txn text. */
class TxnScriptTest {
    static Batch read(String s) throws Exception {
        return TxnScript.read(new BufferedReader(new StringReader(s)));
    }

    @Test
    void readsTheThreeSectionsAsEtcdctlDoes() throws Exception {
        Batch b = read("""
            mod("key1") > "0"
            value("key 2") = "x y"
            version(k3) != 2

            put key1 "overwrote key1"
            get key1
            del /dir --prefix

            put key1 "created-key1"
            """);
        assertThat(b.compares()).containsExactly(
            Compare.number(Compare.Target.MOD_REVISION, Blob.utf8("key1"), Compare.Result.GREATER, 0),
            Compare.value(Blob.utf8("key 2"), Compare.Result.EQUAL, Blob.utf8("x y")),
            Compare.number(Compare.Target.VERSION, Blob.utf8("k3"), Compare.Result.NOT_EQUAL, 2));
        assertThat(b.success()).containsExactly(Op.put(Blob.utf8("key1"), Blob.utf8("overwrote key1")),
            Op.get(Blob.utf8("key1")), Op.deletePrefix(Blob.utf8("/dir")));
        assertThat(b.failure()).containsExactly(Op.put(Blob.utf8("key1"), Blob.utf8("created-key1")));
    }

    @Test
    void quotesKeepBlanksAndEscapes() {
        assertThat(TxnScript.words("put \"a b\" \"say \\\"hi\\\"\"")).containsExactly("put", "a b", "say \"hi\"");
    }

    @Test
    void noComparesMeansAnEmptyFirstSection() throws Exception {
        Batch b = read("\nput a 1\n");
        assertThat(b.compares()).isEmpty();
        assertThat(b.success()).containsExactly(Op.put(Blob.utf8("a"), Blob.utf8("1")));
        assertThat(b.failure()).isEmpty();
    }

    @Test
    void eachMistakeNamesItsLine() {
        assertThatThrownBy(() -> read("size(\"a\") = 1\n")).hasMessageStartingWith("line 1: expected TARGET");
        assertThatThrownBy(() -> read("version(\"a\") = x\n")).hasMessageContaining("line 1: version compares a number, not 'x'");
        assertThatThrownBy(() -> read("\nput a\n")).hasMessageStartingWith("line 2: put takes KEY VALUE");
        assertThatThrownBy(() -> read("\nrange a\n")).hasMessageStartingWith("line 2: unknown request 'range'");
        assertThatThrownBy(() -> read("\nput \"a 1\n")).hasMessageStartingWith("line 2: unclosed quote");
        assertThatThrownBy(() -> read("\n\n\n\nput a 1\n")).hasMessageStartingWith("line 5: a fourth section");
        assertThatThrownBy(() -> read("lock(\"/vol\") > 3\n")).hasMessageContaining("line 1: lock compares a token with = or != only");
    }

    @Test
    void aLockCompareCarriesItsToken() throws Exception {
        Batch b = read("lock(\"/vol/a\") = \"812\"\n\nput /data x\n");
        assertThat(b.compares()).containsExactly(Compare.number(Compare.Target.LOCK, Blob.utf8("/vol/a"),
            Compare.Result.EQUAL, 812));
    }
}
