namespace VhostDeviceCan.Can.Faults;

/// <summary>
/// Frames held back in arrival order, each with the time it may leave and its TX tag: a fixed
/// array used as a ring, so holding a frame allocates nothing. Single-threaded (the device loop).
/// Release times never decrease along the ring: a frame with less jitter than the one before it
/// waits for it, so a delay never reorders a stream (CAN keeps each sender's order).
/// </summary>
internal sealed class DelayLine
{
    private readonly CanFrame[] _frames;
    private readonly TxTag[] _tags;
    private readonly long[] _due;
    private int _head;
    private int _count;

    public DelayLine(int capacity)
    {
        _frames = new CanFrame[capacity];
        _tags = new TxTag[capacity];
        _due = new long[capacity];
    }

    public int Capacity => _frames.Length;
    public int Count => _count;
    public int FreeSpace => _frames.Length - _count;

    /// <summary>Stopwatch timestamp at which the front frame may leave; only when <see cref="Count"/> > 0.</summary>
    public long FrontDue => _due[_head];
    public ref readonly CanFrame Front => ref _frames[_head];
    public TxTag FrontTag => _tags[_head];

    /// <summary>Adds at the back; the caller checked <see cref="FreeSpace"/>. Returns the release time used.</summary>
    public long Add(in CanFrame frame, TxTag tag, long due)
    {
        if (_count > 0)
        {
            long last = _due[(_head + _count - 1) % _frames.Length];
            if (due < last) due = last;
        }
        int slot = (_head + _count) % _frames.Length;
        _frames[slot] = frame;
        _tags[slot] = tag;
        _due[slot] = due;
        _count++;
        return due;
    }

    public void RemoveFront()
    {
        _head = (_head + 1) % _frames.Length;
        _count--;
    }

    public void Clear()
    {
        _head = 0;
        _count = 0;
    }
}
