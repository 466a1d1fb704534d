/* spindle_jump_fcontext: a context switch with the frame layout of
 * Boost.Context 1.81's jump_fcontext for x86-64 System V (see
 * runtime/fiber/context_switch.hpp for why it exists and how its use is checked).
 *
 * Frame saved on the old stack (0x48 bytes, the context handle points at it):
 *   0x00 MXCSR   0x04 x87 control word   0x08 (unused)
 *   0x10 r12  0x18 r13  0x20 r14  0x28 r15  0x30 rbx  0x38 rbp
 *   0x40 return address
 *
 * The one difference: it returns with `ret` instead of `pop %r8; jmp *%r8`,
 * so the CPU's return-stack buffer stays in step with the stack and the
 * returns that follow a switch are predicted.
 *
 * transfer_t spindle_jump_fcontext(void* to, void* data)
 *   in:  rdi = context to resume, rsi = data
 *   out: rax = context of the caller (now suspended), rdx = data;
 *        for a fresh context, rdi/rsi carry the same pair to its entry. */
    .text
    .globl  spindle_jump_fcontext
    .hidden spindle_jump_fcontext
    .type   spindle_jump_fcontext, @function
    .align  16
spindle_jump_fcontext:
    leaq    -0x40(%rsp), %rsp
    stmxcsr (%rsp)
    fnstcw  0x4(%rsp)
    movq    %r12, 0x10(%rsp)
    movq    %r13, 0x18(%rsp)
    movq    %r14, 0x20(%rsp)
    movq    %r15, 0x28(%rsp)
    movq    %rbx, 0x30(%rsp)
    movq    %rbp, 0x38(%rsp)
    movq    %rsp, %rax
    movq    %rdi, %rsp
    ldmxcsr (%rsp)
    fldcw   0x4(%rsp)
    movq    0x10(%rsp), %r12
    movq    0x18(%rsp), %r13
    movq    0x20(%rsp), %r14
    movq    0x28(%rsp), %r15
    movq    0x30(%rsp), %rbx
    movq    0x38(%rsp), %rbp
    leaq    0x40(%rsp), %rsp
    movq    %rsi, %rdx
    movq    %rax, %rdi
    ret
    .size   spindle_jump_fcontext, .-spindle_jump_fcontext
    .section .note.GNU-stack, "", %progbits
