import java.util.HashMap;
import java.util.Map;

/**
 * The benchmark heap: OBJECTS (default 4 million) map entries, each a
 * HashMap$Node, an Integer key and a 48-byte array, so over 10 M objects and a
 * dump over 500 MB at the default of bench/hprof.sh (OBJECTS=4000000).
 */
public class BigHeap {
    static final Map<Integer, byte[]> STORE = new HashMap<>();

    static void step(int n) {
        int objects = Integer.getInteger("objects", 4_000_000);
        for (int i = 0; i < objects; i++) {
            STORE.put(n * objects + i, new byte[48]);
        }
    }
}
