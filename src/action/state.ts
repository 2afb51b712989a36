/** Names under which the main step tells the post step what to remove. */
export const STATE_FILES = 'files';
export const STATE_DIRECTORIES = 'directories';
