/*  fy_list: libferry's one list, intrusive, circular and with a sentinel,
    as the Linux kernel's list_head and PgBouncer's usual/list.h. An object
    embeds an fy_link_t per list it can be on; unlinking is O(1) from
    anywhere, with no allocation and no search, which is what the broker's
    deliveries, the clients' in-flight calls and the servers' connections
    all need. A link that is on no list points at itself, so unlinking
    twice is harmless and fy_link_is_linked tells where it stands. */
#ifndef FY_LIST_H_INCLUDED
#define FY_LIST_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct fy_link {
    struct fy_link *prev, *next;
} fy_link_t;

//  The object that embeds link as its member.
#define fy_list_entry(link, type, member) \
    ((type *) ((char *) (link) - offsetof (type, member)))

//  Iterate over head's objects of type, one at a time in pos; pos may be
//  unlinked (even destroyed) in the body, as the next one is read first.
#define fy_list_each(pos, head, type, member)                      \
    for (fy_link_t *fy_it_ = (head)->next, *fy_nx_ = fy_it_->next; \
         fy_it_ != (head)                                          \
         && ((pos) = fy_list_entry (fy_it_, type, member), true);  \
         fy_it_ = fy_nx_, fy_nx_ = fy_it_->next)

//  An empty list, or a link that is on none.
static inline void
fy_list_init (fy_link_t *head)
{
    head->prev = head->next = head;
}

static inline bool
fy_list_is_empty (const fy_link_t *head)
{
    return head->next == head;
}

static inline bool
fy_link_is_linked (const fy_link_t *link)
{
    return link->next != link;
}

//  Put link just after at (at the head when at is the list's head).
static inline void
fy_list_insert (fy_link_t *at, fy_link_t *link)
{
    link->prev = at;
    link->next = at->next;
    at->next->prev = link;
    at->next = link;
}

static inline void
fy_list_push_front (fy_link_t *head, fy_link_t *link)
{
    fy_list_insert (head, link);
}

static inline void
fy_list_push_back (fy_link_t *head, fy_link_t *link)
{
    fy_list_insert (head->prev, link);
}

//  Take link off its list; it is then on none. Safe on a link on none.
static inline void
fy_list_unlink (fy_link_t *link)
{
    link->prev->next = link->next;
    link->next->prev = link->prev;
    link->prev = link->next = link;
}

//  The first link of head, or NULL when it is empty.
static inline fy_link_t *
fy_list_first (const fy_link_t *head)
{
    return head->next == head ? NULL : head->next;
}

//  The number of links on head; O(n), for stats and tests.
static inline size_t
fy_list_size (const fy_link_t *head)
{
    size_t size = 0;
    for (const fy_link_t *link = head->next; link != head; link = link->next)
        size++;
    return size;
}

#endif
