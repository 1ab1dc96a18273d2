import java.util.LinkedHashMap;
import java.util.Map;

/** Not a leak: an LRU cache that evicts its eldest entry beyond 2000 entries. */
public class BoundedCache {
    static final Map<String, byte[]> RECENT = new LinkedHashMap<>(4096, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, byte[]> eldest) {
            return size() > 2000;
        }
    };

    static void step(int n) {
        for (int i = 0; i < 4000; i++) {
            RECENT.put("key-" + n + "-" + i, new byte[1024]);
        }
        LeakApp.churn();
    }
}
