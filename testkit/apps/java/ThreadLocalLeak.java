import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/** A per-thread buffer list that pooled threads keep for ever, since they never die. */
public class ThreadLocalLeak {
    static final ThreadLocal<List<byte[]>> BUFFERS = ThreadLocal.withInitial(ArrayList::new);
    static final ExecutorService POOL = Executors.newFixedThreadPool(2);

    static void step(int n) {
        List<Future<?>> done = new ArrayList<>();
        for (int i = 0; i < 4000; i++) {
            done.add(POOL.submit(() -> BUFFERS.get().add(new byte[1024])));
        }
        for (Future<?> f : done) {
            try {
                f.get();
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }
        LeakApp.churn();
    }
}
