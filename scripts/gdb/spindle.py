# spindle.py: gdb commands for spindle's fibers, in a live process or a core file.
#
#   (gdb) source scripts/gdb/spindle.py
#   (gdb) spindle fibers        every live fiber of every runtime: id, name, state, wait
#   (gdb) spindle bt 42         the backtrace of fiber 42, parked (or not yet running)
#
# Needs the program's debug information (-g, e.g. CMAKE_BUILD_TYPE=RelWithDebInfo) for
# spindle's own types. docs/USER_GUIDE.md, "Debugging with gdb".
#
# How it finds the fibers: every runtime links itself into the list at
# `spindle::detail::all_runtimes` (runtime/observe/runtime_list.hpp); each
# runtime's `registry_` (runtime/observe/fiber_registry.hpp) holds one list of
# live fibers per shard (`head`, then `fiber::registry_next`). Fibers marked
# `ended` are skipped, as the dump skips them. Nothing is called in the
# inferior: everything is read from memory, so a core file works as well as a
# live process, and the script never takes the registry's locks (the process is
# stopped).
#
# A parked fiber's registers are saved on its own stack: `fiber::sched.context`
# points at the frame spindle_jump_fcontext (runtime/fiber/context_switch_x86_64_sysv.S,
# the same layout as Boost.Context's jump_fcontext) pushed:
#   +0x10 r12  +0x18 r13  +0x20 r14  +0x28 r15  +0x30 rbx  +0x38 rbp  +0x40 return address
# and the fiber's stack pointer after that return is context + 0x48. `spindle bt`
# installs an unwinder that, for the selected thread's innermost frame only,
# reports those registers as its caller's: the frames gdb then unwinds from
# there are the fiber's. Registers are not written, so this works on core
# files too. x86-64 only.

import gdb
from gdb.unwinder import Unwinder, register_unwinder

# The dump's words for wait kinds (runtime/observe/dump.cpp); other
# enumerators of spindle::detail::wait_kind print as they are named.
WAIT_WORDS = {
    "condition": "condition_variable",
    "channel_send": "channel send",
    "channel_recv": "channel recv",
    "io_read": "read",
    "io_write": "write",
    "io_accept": "accept",
    "io_connect": "connect",
    "blocking_call": "run_blocking",
}
IO_KINDS = ("io_read", "io_write", "io_accept", "io_connect")
# wait_record::pinned: set while a dump reads a mutex wait (api/spindle/detail/fiber.hpp).
PINNED = 0x100
MAX_NAME = 256      # bytes of a long name shown
MAX_FRAMES = 64


def _inferior():
    return gdb.selected_inferior()


def _read_uint(address, size):
    data = _inferior().read_memory(address, size)
    return int.from_bytes(bytes(data), "little")


def _pointer_size():
    return gdb.lookup_type("void").pointer().sizeof


def _read_pointer(address):
    return _read_uint(address, _pointer_size())


def _scalar(value, signed=False):
    """An integer member, plain or std::atomic (read as raw bytes: no
    dependence on the standard library's layout)."""
    n = _read_uint(int(value.address), value.type.sizeof)
    if signed and n >= 1 << (8 * value.type.sizeof - 1):
        n -= 1 << (8 * value.type.sizeof)
    return n


def _typed(address, type_name):
    return gdb.Value(address).cast(gdb.lookup_type(type_name).pointer()).dereference()


class _Fiber:
    """A spindle::detail::fiber, read member by member at its offsets: the
    class is polymorphic, and a gdb value of it would look for the dynamic
    type's RTTI (warnings for every lambda's fiber_impl)."""

    def __init__(self, address):
        self.address = address
        self._type = gdb.lookup_type("spindle::detail::fiber")

    def __getitem__(self, name):
        for field in self._type.fields():
            if field.name == name:
                return _typed_value(self.address + field.bitpos // 8, field.type)
        raise gdb.GdbError("spindle: spindle::detail::fiber has no member %s" % name)


def _typed_value(address, type_):
    return gdb.Value(address).cast(type_.pointer()).dereference()


def _first_word(value):
    """The pointer a std::unique_ptr (default deleter) or the begin of a std::vector
    holds: its first word, in libstdc++ and libc++ alike."""
    return _read_pointer(int(value.address))


def _wait_kind_names():
    names = {}
    for field in gdb.lookup_type("spindle::detail::wait_kind").strip_typedefs().fields():
        names[field.enumval] = field.name.split("::")[-1]
    return names


def runtimes():
    """The address of every live runtime_core."""
    # A symbol lookup, not an expression: the selected frame may be in C code
    # (a core stopped in libc), where `spindle::` does not parse.
    symbol = gdb.lookup_global_symbol("spindle::detail::all_runtimes")
    if symbol is None:
        raise gdb.GdbError("spindle: no spindle::detail::all_runtimes in this program "
                           "(not linked with spindle, or no debug information)")
    entry = int(symbol.value())
    seen = set()
    while entry and entry not in seen:
        seen.add(entry)
        e = _typed(entry, "spindle::detail::runtime_list_entry")
        yield int(e["rt"])
        entry = int(e["next"])


def workers(rt):
    """(index, worker value) of a runtime_core."""
    vec = rt["workers_"]
    begin = _first_word(vec)
    end = _read_pointer(int(vec.address) + _pointer_size())
    step = _pointer_size()
    for i, slot in enumerate(range(begin, end, step)):
        yield i, _typed(_read_pointer(slot), "spindle::detail::worker")


def fibers(rt):
    """Every registered, not ended fiber of a runtime_core (as _Fiber)."""
    registry = rt["registry_"]
    count = _scalar(registry["count_"])
    shards = _first_word(registry["shards_"])
    shard_type = gdb.lookup_type("spindle::detail::fiber_registry::shard")
    for i in range(count):
        shard = gdb.Value(shards + i * shard_type.sizeof).cast(shard_type.pointer()).dereference()
        f = int(shard["head"])
        seen = set()
        while f and f not in seen:
            seen.add(f)
            fb = _Fiber(f)
            if not _scalar(fb["ended"]):
                yield fb
            f = int(fb["registry_next"])


def fiber_name(fb):
    name = fb["name"]
    size = _scalar(name["size_"])
    inline = int(name["inline_"].address)
    capacity = name["inline_"].type.sizeof
    address = inline if size <= capacity else _read_pointer(inline)
    shown = min(size, MAX_NAME)
    text = bytes(_inferior().read_memory(address, shown)).decode("utf-8", "replace") if shown else ""
    return text + ("..." if shown < size else "")


def fiber_state(fb, running_on, kinds):
    """"running on worker N", "waiting <kind> [...]", "runnable" or "not started"."""
    fid = _scalar(fb["sched"]["id"])
    if fid in running_on:
        return "running on worker %d" % running_on[fid]
    kind = _scalar(fb["wait"]["kind"]) & ~PINNED
    if kind:
        word = kinds.get(kind, "wait kind %d" % kind)
        detail = _scalar(fb["wait"]["detail"], signed=True)
        text = "waiting " + WAIT_WORDS.get(word, word)
        if word in IO_KINDS:
            text += " fd %d" % detail
        elif word == "join":
            text += " fiber %d" % detail
        return text
    if not int(fb["sched"]["stack"]):
        return "runnable (not started)"
    return "runnable"


def running_fibers(rt):
    """{fiber id: worker index} of the fibers the workers run now."""
    out = {}
    for i, w in workers(rt):
        cur = int(w["current"])
        if cur:
            out[_scalar(_Fiber(cur)["sched"]["id"])] = i
    return out


def find_fiber(fid):
    for rt_address in runtimes():
        rt = _typed(rt_address, "spindle::detail::runtime_core")
        for fb in fibers(rt):
            if _scalar(fb["sched"]["id"]) == fid:
                return rt, fb
    return None, None


class _FiberUnwinder(Unwinder):
    """While `target` is set: the innermost frame of the selected thread (its
    sp and pc in `target`) gets the parked fiber's registers as its caller's."""

    def __init__(self):
        super().__init__("spindle-fiber")
        self.target = None

    def __call__(self, pending_frame):
        t = self.target
        if t is None:
            return None
        sp = pending_frame.read_register("rsp")
        pc = pending_frame.read_register("rip")
        if int(sp) != t["sp"] or int(pc) != t["pc"]:
            return None

        class FrameId:
            def __init__(self, sp, pc):
                self.sp = sp
                self.pc = pc

        info = pending_frame.create_unwind_info(FrameId(sp, pc))
        for reg, value in t["regs"].items():
            info.add_saved_register(reg, gdb.Value(value).cast(pending_frame.read_register(reg).type))
        return info


_unwinder = _FiberUnwinder()
register_unwinder(None, _unwinder, replace=True)


def _saved_registers(context):
    regs = {name: _read_pointer(context + offset) for name, offset in
            (("r12", 0x10), ("r13", 0x18), ("r14", 0x20), ("r15", 0x28), ("rbx", 0x30),
             ("rbp", 0x38), ("rip", 0x40))}
    regs["rsp"] = context + 0x48
    return regs


def _demangled(name):
    """Some inlined frames (of lambdas) come with their mangled names."""
    if not name.startswith("_Z"):
        return name
    try:
        return gdb.execute("demangle -l c++ -- " + name, to_string=True).strip() or name
    except gdb.error:
        return name


def fiber_frames(context):
    """[(level, pc, function, file:line)] of the fiber whose saved context is at `context`."""
    newest = gdb.newest_frame()
    _unwinder.target = {"sp": int(newest.read_register("rsp")), "pc": int(newest.read_register("rip")),
                        "regs": _saved_registers(context)}
    gdb.invalidate_cached_frames()
    out = []
    try:
        frame = gdb.newest_frame().older()
        level = 0
        while frame is not None and level < MAX_FRAMES:
            sal = frame.find_sal()
            where = ""
            if sal.symtab is not None:
                where = "%s:%d" % (sal.symtab.filename, sal.line)
            name = _demangled(frame.name() or "??")
            out.append((level, frame.pc(), name, where))
            # A fiber's stack begins in fiber_entry; below it is only the
            # trampoline of Boost's make_fcontext.
            if name.endswith("::fiber_entry") or \
                    frame.unwind_stop_reason() != gdb.FRAME_UNWIND_NO_REASON:
                break
            frame = frame.older()
            level += 1
    finally:
        _unwinder.target = None
        gdb.invalidate_cached_frames()
    return out


class SpindlePrefix(gdb.Command):
    """spindle's fibers: `spindle fibers`, `spindle bt ID`."""

    def __init__(self):
        super().__init__("spindle", gdb.COMMAND_STACK, gdb.COMPLETE_COMMAND, True)


class SpindleFibers(gdb.Command):
    """List every live fiber of every spindle runtime: id, name, state and wait.

Usage: spindle fibers"""

    def __init__(self):
        super().__init__("spindle fibers", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        kinds = _wait_kind_names()
        any_runtime = False
        for rt_address in runtimes():
            any_runtime = True
            rt = _typed(rt_address, "spindle::detail::runtime_core")
            running_on = running_fibers(rt)
            listed = sorted(fibers(rt), key=lambda fb: _scalar(fb["sched"]["id"]))
            gdb.write("runtime 0x%x: %d workers, %d fibers\n"
                      % (rt_address, len(list(workers(rt))), len(listed)))
            for fb in listed:
                name = fiber_name(fb)
                gdb.write("  fiber %d %s %s\n" % (_scalar(fb["sched"]["id"]),
                                                  '"%s"' % name if name else '""',
                                                  fiber_state(fb, running_on, kinds)))
        if not any_runtime:
            gdb.write("no spindle runtime\n")


class SpindleBacktrace(gdb.Command):
    """Show the backtrace of a parked spindle fiber.

Usage: spindle bt ID
ID is the fiber's id as `spindle fibers` and the dump print it. A running
fiber's frames are its worker thread's (`thread N` then `bt`)."""

    def __init__(self):
        super().__init__("spindle bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        try:
            fid = int(arg.strip(), 0)
        except ValueError:
            raise gdb.GdbError("usage: spindle bt ID (a fiber id, as `spindle fibers` lists them)")
        rt, fb = find_fiber(fid)
        if fb is None:
            raise gdb.GdbError("spindle: no live fiber %d" % fid)
        if fid in running_fibers(rt):
            raise gdb.GdbError("spindle: fiber %d is running on worker %d: its frames are that "
                               "thread's (`info threads`, `thread N`, `bt`)"
                               % (fid, running_fibers(rt)[fid]))
        if not int(fb["sched"]["stack"]):
            raise gdb.GdbError("spindle: fiber %d has not started: it has no stack yet" % fid)
        if "x86-64" not in gdb.newest_frame().architecture().name():
            raise gdb.GdbError("spindle bt: x86-64 only")
        context = int(fb["sched"]["context"])
        if not _saved_registers(context)["rip"]:
            raise gdb.GdbError(
                "spindle: fiber %d's saved registers read as zeros: its stack is not in this core "
                "(gdb's gcore / generate-core-file on Linux >= 6.13 with options::stack_guard on "
                "cannot copy the stacks; a core written by the kernel can)" % fid)
        name = fiber_name(fb)
        gdb.write("fiber %d%s:\n" % (fid, ' "%s"' % name if name else ""))
        for level, pc, function, where in fiber_frames(context):
            gdb.write("#%-2d 0x%016x in %s%s\n" % (level, pc, function, " at " + where if where else ""))


SpindlePrefix()
SpindleFibers()
SpindleBacktrace()
