/* main() of a program linked by cnnc: runs the command line of the model cnnc compiled
 * (cnnrt_program_model, emitted into the model's object file). Kept apart from libcnnrt so
 * that C programs embedding a model.o bring their own main(). */
#include "cnnrt_program.h"

int main(int argc, char **argv)
{
    return cnnrt_program_main(cnnrt_program_model, argc, argv);
}
